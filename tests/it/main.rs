//! End-to-end tests: the built `berthd` against real clients (Docker Engine, skopeo, podman,
//! the ORAS Python SDK) and raw HTTP. Run through `tests/run.sh`, which installs the tools and
//! starts one dockerd.

mod browser;
mod harness;
mod tmux;

mod api;
mod appliance;
mod backup;
mod contract;
mod docker;
mod durability;
mod gc;
mod ldap;
mod matrix;
mod operations;
mod oras;
mod packaging;
mod policies;
mod portal;
mod protocol;
mod replication;
mod repos;
mod robots;
mod scripts;
mod server;
mod setup;
mod skopeo;
mod wizard;
