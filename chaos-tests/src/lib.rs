//! The SREs' chaos harness, `chaos` (not built yet: issue #4).
//!
//! It will launch regions as real processes, inject faults, record client
//! histories and check them: no oversell, conservation, no lost
//! acknowledgement, replica convergence. See DESIGN.md §8.
#![deny(missing_docs)]
