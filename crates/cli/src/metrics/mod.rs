//! `tenure metrics <group>`: each group's arguments and runner live in a
//! module of its own; this file only lists them.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use tenure_store::Workspace;

#[derive(Subcommand)]
pub enum MetricsCommand {
    // One line per metric group, e.g.:
    // /// MRR, movements, churn, NRR/GRR, cohorts, renewals (SPEC 2.1).
    // Revenue(revenue::RevenueArgs),
}

pub fn run(data: &Path, command: MetricsCommand) -> Result<ExitCode> {
    let ws = Workspace::open(data)?;
    #[allow(unreachable_code, unused_variables)]
    match command {
        // MetricsCommand::Revenue(args) => revenue::run(&ws, args),
    }
}
