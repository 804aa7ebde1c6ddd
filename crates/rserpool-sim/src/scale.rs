//! Scale runs in virtual time (see the README's Simulation section).
