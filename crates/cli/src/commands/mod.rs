//! One module per subcommand: its flags (`Args`) and its `run`.

pub(crate) mod agent;
pub(crate) mod apiserver;
pub(crate) mod apply;
pub(crate) mod bench;
pub(crate) mod bird;
pub(crate) mod bird_args;
pub(crate) mod bird_tables;
pub(crate) mod collect;
pub(crate) mod delete;
pub(crate) mod get;
pub(crate) mod lab;
pub(crate) mod manifests;
