//! Synthetic hands (to be written).
