//! Unit tests of the MAT-file reader and writer.
