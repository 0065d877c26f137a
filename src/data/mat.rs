//! MATLAB 5 MAT-files (to be written).
