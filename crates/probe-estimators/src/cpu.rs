//! CPU helpers shared with the trainer's fused loops: the instruction set vectorised loops are
//! compiled for (chosen at run time, capped by `PROBE_CPU_ISA`) and a branch-free `exp` whose
//! results are the same at every instruction set.

pub use crate::fast_exp::exp;
pub use crate::rows::{isa, supported_isas, Isa};
