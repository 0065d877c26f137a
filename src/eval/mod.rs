//! Metrics and results files (to be written).
