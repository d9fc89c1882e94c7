//! Who may do what: roles, token scopes, account names, where a sign-in may lead.

use conveyor_core::access::{is_account_name, local_path, Action, Principal, Role, Scope};

fn principal(role: Role, scope: Option<Scope>) -> Principal {
    Principal {
        user_id: 1,
        name: "ada".into(),
        role,
        scope,
    }
}

#[test]
fn a_role_reaches_its_own_actions_and_those_below() {
    let table = [
        (Role::Viewer, [true, false, false]),
        (Role::Developer, [true, true, false]),
        (Role::Admin, [true, true, true]),
    ];
    for (role, allowed) in table {
        let who = principal(role, None);
        let got = [
            who.may(Action::Read),
            who.may(Action::Run),
            who.may(Action::Admin),
        ];
        assert_eq!(got, allowed, "{role}");
    }
}

#[test]
fn a_token_does_no_more_than_its_scope_nor_than_its_account() {
    let admin_read = principal(Role::Admin, Some(Scope::Read));
    assert!(admin_read.may(Action::Read));
    assert!(!admin_read.may(Action::Run));
    // A viewer's admin-scoped token (should one exist) is still a viewer's.
    let viewer_admin = principal(Role::Viewer, Some(Scope::Admin));
    assert!(viewer_admin.may(Action::Read));
    assert!(!viewer_admin.may(Action::Run));
    assert!(!viewer_admin.may(Action::Admin));
    assert!(Scope::Run.fits(Role::Developer));
    assert!(!Scope::Admin.fits(Role::Developer));
}

#[test]
fn roles_and_scopes_are_read_by_name() {
    assert_eq!("developer".parse::<Role>(), Ok(Role::Developer));
    let err = "root".parse::<Role>().unwrap_err();
    assert!(err.contains("viewer, developer, admin"), "{err}");
    assert_eq!("run".parse::<Scope>(), Ok(Scope::Run));
}

#[test]
fn account_names() {
    for good in ["admin", "ada.lovelace@example.com", "ci-bot_2"] {
        assert!(is_account_name(good), "{good}");
    }
    for bad in ["", "-x", "a b", "ä", "x/y", &"a".repeat(65)] {
        assert!(!is_account_name(bad), "{bad}");
    }
}

#[test]
fn a_sign_in_leads_only_to_paths_of_this_site() {
    assert_eq!(local_path("/runs/7?x=1"), "/runs/7?x=1");
    for elsewhere in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "runs/7",
        "",
        "/a\nb",
    ] {
        assert_eq!(local_path(elsewhere), "/", "{elsewhere:?}");
    }
}

mod approvals {
    use conveyor_core::access::{Principal, Role, Scope};
    use conveyor_core::approval::{ApprovalRule, Approver};
    use conveyor_core::definition::Params;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn who(name: &str, role: Role) -> Principal {
        Principal {
            user_id: 1,
            name: name.into(),
            role,
            scope: None,
        }
    }

    #[test]
    fn approvers_are_accounts_and_roles() {
        let rule = ApprovalRule::read(
            "p",
            &params(&[("approvers", "carol, role:admin"), ("ticket", "x")]),
        )
        .unwrap();
        assert_eq!(
            rule.approvers,
            vec![
                Approver::Account("carol".into()),
                Approver::Role(Role::Admin)
            ]
        );
        assert!(!rule.four_eyes);
        assert_eq!(rule.describe(), "carol, role:admin");
        let problems = ApprovalRule::read(
            "p",
            &params(&[("approvers", "role:root"), ("four_eyes", "yes")]),
        )
        .unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["p.approvers", "p.four_eyes"]);
    }

    #[test]
    fn only_approvers_decide_and_four_eyes_stops_the_starter_approving() {
        let rule = ApprovalRule::read(
            "p",
            &params(&[("approvers", "carol, role:admin"), ("four_eyes", "true")]),
        )
        .unwrap();
        assert!(rule
            .may_decide(&who("dave", Role::Developer), None, true)
            .is_err());
        assert!(
            rule.may_decide(&who("root", Role::Admin), None, true)
                .is_ok(),
            "role:admin"
        );
        let carol = who("carol", Role::Developer);
        assert!(rule.may_decide(&carol, Some("dave"), true).is_ok());
        let err = rule.may_decide(&carol, Some("carol"), true).unwrap_err();
        assert!(err.contains("four eyes"), "{err}");
        assert!(
            rule.may_decide(&carol, Some("carol"), false).is_ok(),
            "refusing your own run is allowed"
        );
        // A named approver still needs to be allowed to run things at all.
        let read_token = Principal {
            scope: Some(Scope::Read),
            ..carol.clone()
        };
        assert!(rule.may_decide(&read_token, None, true).is_err());
        assert!(rule
            .may_decide(&who("carol", Role::Viewer), None, true)
            .is_err());
        // Without approvers, any developer decides.
        let open = ApprovalRule::default();
        assert!(open
            .may_decide(&who("dave", Role::Developer), Some("dave"), true)
            .is_ok());
        assert!(open
            .may_decide(&who("vic", Role::Viewer), None, true)
            .is_err());
    }
}
