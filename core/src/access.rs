//! Who may do what: the roles of accounts, the scopes of API tokens, and the one rule that
//! says whether a caller may take an action. Pure, so the pages can show only the buttons
//! a person may use, with the same rule the server enforces.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a request does, from the least to the most trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Pages, runs, logs, definitions.
    Read,
    /// Edit pipelines; start, cancel, re-run runs; approve or refuse steps (when named).
    Run,
    /// Users, others' tokens, secrets, workflows' credentials, settings, the audit log.
    Admin,
}

/// An account's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads pages, runs and logs.
    Viewer,
    /// Also edits pipelines and starts, cancels and re-runs runs.
    Developer,
    /// Also manages users, tokens of others, secrets, workflows and settings.
    Admin,
}

/// An API token's scope: never wider than its owner's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Run,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Developer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }

    /// The most this role may do.
    pub fn reach(self) -> Action {
        match self {
            Role::Viewer => Action::Read,
            Role::Developer => Action::Run,
            Role::Admin => Action::Admin,
        }
    }
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Run, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Run => "run",
            Scope::Admin => "admin",
        }
    }

    /// The most a token of this scope may do (its owner's role may allow less).
    pub fn reach(self) -> Action {
        match self {
            Scope::Read => Action::Read,
            Scope::Run => Action::Run,
            Scope::Admin => Action::Admin,
        }
    }

    /// Whether an account of `role` may hold a token of this scope.
    pub fn fits(self, role: Role) -> bool {
        self.reach() <= role.reach()
    }
}

/// Someone a request acts for: an account signed in, or a script with one of its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Principal {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
    /// Set when the request came with an API token: what that token may do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

impl Principal {
    /// The one rule: the account's role, narrowed by the token's scope, must reach the
    /// action.
    pub fn may(&self, action: Action) -> bool {
        let reach = match self.scope {
            Some(scope) => scope.reach().min(self.role.reach()),
            None => self.role.reach(),
        };
        action <= reach
    }
}

/// The server functions of the pages, by endpoint, and what calling each needs (`None`:
/// anyone). The server's guard enforces it; the pages use it to show who may use a form.
const SERVER_FNS: &[(&str, Option<Action>)] = &[
    ("sign_in", None),
    ("sign_out", None),
    ("list_pipelines", Some(Action::Read)),
    ("list_runs", Some(Action::Read)),
    ("get_run", Some(Action::Read)),
    ("search_logs", Some(Action::Read)),
    ("version_diff", Some(Action::Read)),
    ("edit_graph", Some(Action::Read)),
    ("pipeline_editor", Some(Action::Read)),
    ("load_workflow_form", Some(Action::Read)),
    ("create_pipeline", Some(Action::Run)),
    ("update_pipeline", Some(Action::Run)),
    ("start_run", Some(Action::Run)),
    ("run_control", Some(Action::Run)),
    ("save_workflow", Some(Action::Admin)),
    ("audit_log", Some(Action::Admin)),
    ("account", Some(Action::Read)),
    ("account_control", Some(Action::Read)),
    ("user_control", Some(Action::Admin)),
    ("list_secrets", Some(Action::Read)),
    ("list_actions", Some(Action::Read)),
    ("list_workflows", Some(Action::Read)),
    ("load_stats", Some(Action::Read)),
    ("list_releases", Some(Action::Read)),
    ("roll_back", Some(Action::Run)),
    // Deleting a workflow needs an admin: checked again where it is deleted.
    ("remove", Some(Action::Run)),
    ("secret_control", Some(Action::Admin)),
];

/// What calling the server function `endpoint` needs. One this table does not know needs an
/// admin: a new function is closed until it is given its place here.
pub fn server_fn_needs(endpoint: &str) -> Option<Action> {
    SERVER_FNS
        .iter()
        .find(|(known, _)| *known == endpoint)
        .map_or(Some(Action::Admin), |(_, needs)| *needs)
}

/// The CSRF token of a browser's session, as the server found it for a request: the pages
/// put it in every form they post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfToken(pub String);

/// The OpenID Connect provider the sign-in page offers, by the name people know it by (the
/// server puts it on each request when one is configured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInProvider(pub String);

/// Where to go after signing in: `next` when it is a path on this site, else the start
/// page (a link may not send someone elsewhere with their fresh session).
pub fn local_path(next: &str) -> &str {
    let on_this_site = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if on_this_site {
        next
    } else {
        "/"
    }
}

macro_rules! names {
    ($name:ident, $what:literal) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                $name::ALL
                    .into_iter()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| {
                        let known: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        format!(
                            "unknown {} \"{text}\"; expected one of: {}",
                            $what,
                            known.join(", ")
                        )
                    })
            }
        }
    };
}

names!(Role, "role");
names!(Scope, "scope");

/// True for an account name: 1–64 of letters, digits, `.`, `_`, `-` and `@`, starting with a
/// letter or digit (e-mail addresses from a sign-in provider fit).
pub fn is_account_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Shortest password an account may have.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// An account as the users page and API show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserSummary {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Whether it signs in with a password (else only through the sign-in provider).
    pub password: bool,
}

/// An API token as its owner (and admins) see it: never its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenSummary {
    pub id: i64,
    /// The account it acts for.
    pub owner: String,
    pub name: String,
    pub scope: Scope,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A token just made: its value is shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewToken {
    pub token: String,
    #[serde(flatten)]
    pub summary: TokenSummary,
}
