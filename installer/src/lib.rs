//! `berth-setup`: configures Berth on first boot (or again later). The answers come from the
//! terminal wizard, an answers file or the appliance's OVF environment; all pass the same checks in [`answers`] and are
//! applied by [`apply`], which writes nothing until everything has been checked.

pub mod answers;
pub mod apply;
pub mod certs;
pub mod machine;
pub mod ovf;
pub mod wizard;
