//! The handlespace: pools of PE entries, with every set a registrar needs
//! (paper section 3).

pub mod set;
