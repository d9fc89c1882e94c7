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
