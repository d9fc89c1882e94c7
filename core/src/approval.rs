//! Who may decide an approval gate. A step's `approval_params` (seed 001's `audit_params`)
//! may name `approvers` — accounts, and roles as `role:NAME` — and set `four_eyes: true`, so
//! the person who started the run cannot approve it. Without approvers anyone who may run
//! the pipeline decides.

use serde::{Deserialize, Serialize};

use crate::access::{is_account_name, Action, Principal, Role};
use crate::definition::{Params, Problem};

/// The `approval_params` keys this module reads; others are kept for whatever else reads
/// them.
pub const APPROVERS: &str = "approvers";
pub const FOUR_EYES: &str = "four_eyes";

/// Someone named as an approver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approver {
    Account(String),
    /// Everyone whose role is this one or above it.
    Role(Role),
}

/// The rule of one approval gate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<Approver>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub four_eyes: bool,
}

impl ApprovalRule {
    /// Reads a step's `approval_params`; each problem names its key under `path`.
    pub fn read(path: &str, params: &Params) -> Result<ApprovalRule, Vec<Problem>> {
        let mut rule = ApprovalRule::default();
        let mut problems = Vec::new();
        if let Some(list) = params.get(APPROVERS) {
            let at = format!("{path}.{APPROVERS}");
            for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                match entry.strip_prefix("role:") {
                    Some(role) => match role.parse() {
                        Ok(role) => rule.approvers.push(Approver::Role(role)),
                        Err(message) => problems.push(Problem::new(&at, message)),
                    },
                    None if is_account_name(entry) => {
                        rule.approvers.push(Approver::Account(entry.to_owned()))
                    }
                    None => problems.push(Problem::new(
                        &at,
                        format!(
                            "\"{entry}\" is neither an account name nor a role (`role:developer`)"
                        ),
                    )),
                }
            }
            if rule.approvers.is_empty() && problems.is_empty() {
                problems.push(Problem::new(
                    &at,
                    "names no one; leave it out to let any developer decide",
                ));
            }
        }
        if let Some(flag) = params.get(FOUR_EYES) {
            match flag.as_str() {
                "true" => rule.four_eyes = true,
                "false" => {}
                other => problems.push(Problem::new(
                    format!("{path}.{FOUR_EYES}"),
                    format!("\"{other}\" is not true or false"),
                )),
            }
        }
        if problems.is_empty() {
            Ok(rule)
        } else {
            Err(problems)
        }
    }

    /// Whether `who` may approve (or refuse) a gate of a run `started_by` someone; `Err`
    /// says why not.
    pub fn may_decide(
        &self,
        who: &Principal,
        started_by: Option<&str>,
        approve: bool,
    ) -> Result<(), String> {
        if !who.may(Action::Run) {
            return Err(format!(
                "{} may not decide approvals (it needs the developer role)",
                who.name
            ));
        }
        let named = self.approvers.is_empty()
            || self.approvers.iter().any(|approver| match approver {
                Approver::Account(name) => *name == who.name,
                Approver::Role(role) => who.role.reach() >= role.reach(),
            });
        if !named {
            return Err(format!(
                "{} is not one of this step's approvers ({})",
                who.name,
                self.describe()
            ));
        }
        if approve && self.four_eyes && started_by == Some(who.name.as_str()) {
            return Err(format!(
                "{} started this run and may not approve it too (four eyes): someone else must",
                who.name
            ));
        }
        Ok(())
    }

    /// The approvers as the definition names them.
    pub fn describe(&self) -> String {
        self.approvers
            .iter()
            .map(|approver| match approver {
                Approver::Account(name) => name.clone(),
                Approver::Role(role) => format!("role:{role}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
