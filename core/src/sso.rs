//! Signing in through an OpenID Connect provider, the parts that are rules rather than
//! protocol: which role a provider's claim grants, and the account name a new person gets.

use std::str::FromStr;

use serde_json::Value;

use crate::access::{is_account_name, Role};

/// The page a browser lands on with `?sso=<code>` when signing in through the provider
/// failed; the reason behind it is in the server's log and the audit log, never in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoFailure {
    /// The provider said no (the person refused, or it has no such client).
    Refused,
    /// The answer did not belong to a sign-in this browser started, or came too late.
    Expired,
    /// The provider could not be reached, or its answer did not verify.
    Failed,
    /// The provider's claim grants no role here.
    NoRole,
    /// The account is disabled here.
    Disabled,
}

impl SsoFailure {
    pub const ALL: [SsoFailure; 5] = [
        SsoFailure::Refused,
        SsoFailure::Expired,
        SsoFailure::Failed,
        SsoFailure::NoRole,
        SsoFailure::Disabled,
    ];

    pub fn code(self) -> &'static str {
        match self {
            SsoFailure::Refused => "refused",
            SsoFailure::Expired => "expired",
            SsoFailure::Failed => "failed",
            SsoFailure::NoRole => "no-role",
            SsoFailure::Disabled => "disabled",
        }
    }

    pub fn from_code(code: &str) -> Option<SsoFailure> {
        SsoFailure::ALL.into_iter().find(|f| f.code() == code)
    }

    /// What the sign-in page says.
    pub fn message(self) -> &'static str {
        match self {
            SsoFailure::Refused => "The sign-in provider did not sign you in.",
            SsoFailure::Expired => {
                "That sign-in had expired or was started elsewhere: please sign in again."
            }
            SsoFailure::Failed => {
                "Signing in through the provider failed; the server's log says why."
            }
            SsoFailure::NoRole => {
                "Your account at the sign-in provider has no role here: ask an admin to grant one."
            }
            SsoFailure::Disabled => "Your account here is disabled.",
        }
    }
}

/// Provider groups (or roles) and the role each grants: `ci-admins=admin,devs=developer`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap(pub Vec<(String, Role)>);

impl FromStr for RoleMap {
    type Err = String;

    fn from_str(text: &str) -> Result<RoleMap, String> {
        let mut pairs = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((group, role)) = entry.rsplit_once('=') else {
                return Err(format!(
                    "\"{entry}\" is not GROUP=ROLE (e.g. ci-admins=admin)"
                ));
            };
            let role = role.trim().parse::<Role>()?;
            let group = group.trim();
            if group.is_empty() {
                return Err(format!("\"{entry}\" names no group"));
            }
            pairs.push((group.to_owned(), role));
        }
        Ok(RoleMap(pairs))
    }
}

impl RoleMap {
    /// The widest role the claim's values grant, else `default`. The claim may be a list of
    /// strings (groups) or one string; anything else grants nothing.
    pub fn role(&self, claim: Option<&Value>, default: Option<Role>) -> Option<Role> {
        let values: Vec<&str> = match claim {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        self.0
            .iter()
            .filter(|(group, _)| values.contains(&group.as_str()))
            .map(|(_, role)| *role)
            .max()
            .or(default)
    }
}

/// The account name a person from the provider gets: the first of their preferred user
/// name, their e-mail address and their subject that makes a valid account name once
/// characters no account name has are replaced by `-`.
pub fn account_name(preferred: Option<&str>, email: Option<&str>, subject: &str) -> String {
    [preferred, email, Some(subject)]
        .into_iter()
        .flatten()
        .map(|candidate| {
            let cleaned: String = candidate
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@') {
                        c
                    } else {
                        '-'
                    }
                })
                .skip_while(|c| !c.is_ascii_alphanumeric())
                .take(56)
                .collect();
            cleaned
        })
        .find(|name| is_account_name(name))
        .unwrap_or_else(|| "sso-user".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_widest_mapped_role_wins_and_unmapped_gets_the_default() {
        let map: RoleMap = "devs=developer, ci-admins=admin,everyone=viewer"
            .parse()
            .unwrap();
        let groups = json!(["everyone", "ci-admins", "devs"]);
        assert_eq!(map.role(Some(&groups), None), Some(Role::Admin));
        assert_eq!(map.role(Some(&json!("devs")), None), Some(Role::Developer));
        assert_eq!(map.role(Some(&json!(["others"])), None), None);
        assert_eq!(
            map.role(Some(&json!(["others"])), Some(Role::Viewer)),
            Some(Role::Viewer)
        );
        assert_eq!(map.role(None, None), None);
        assert_eq!(map.role(Some(&json!(42)), None), None);
    }

    #[test]
    fn a_bad_role_map_says_which_entry() {
        let err = "devs=developer,ops".parse::<RoleMap>().unwrap_err();
        assert!(err.contains("\"ops\""), "{err}");
        let err = "devs=boss".parse::<RoleMap>().unwrap_err();
        assert!(err.contains("boss"), "{err}");
        assert_eq!("".parse::<RoleMap>().unwrap(), RoleMap::default());
    }

    #[test]
    fn account_names_come_from_what_the_provider_says() {
        assert_eq!(account_name(Some("carol"), None, "x"), "carol");
        assert_eq!(account_name(Some("Carol Smith"), None, "x"), "Carol-Smith");
        assert_eq!(
            account_name(None, Some("carol@example.com"), "x"),
            "carol@example.com"
        );
        assert_eq!(
            account_name(Some("  "), None, "248289761001"),
            "248289761001"
        );
        assert_eq!(account_name(Some("ÿÿ"), None, "-_-"), "sso-user");
        for failure in SsoFailure::ALL {
            assert_eq!(SsoFailure::from_code(failure.code()), Some(failure));
        }
    }
}
