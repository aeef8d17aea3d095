//! Races of the wait mechanism.
