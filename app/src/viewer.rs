//! Who is looking at the pages: their account, and the CSRF token their forms carry. The
//! server reads both from the request (the guard put them there); the shell writes them into
//! `<meta>` tags, which the browser reads as the app hydrates, so both render the same.

use conveyor_core::access::{Action, Principal, Role};
use leptos::prelude::*;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Viewer {
    /// The signed-in account; `None` on the sign-in page.
    pub name: Option<String>,
    pub role: Option<Role>,
    /// Empty without a session.
    pub csrf: String,
    /// The OpenID Connect provider the sign-in page offers, by name.
    pub provider: Option<String>,
}

const USER_META: &str = "conveyor-user";
const ROLE_META: &str = "conveyor-role";
const CSRF_META: &str = "csrf-token";
const PROVIDER_META: &str = "conveyor-sign-in-provider";

impl Viewer {
    /// The viewer of the page being rendered or hydrated.
    pub fn current() -> Viewer {
        #[cfg(feature = "ssr")]
        return Viewer::of_request();
        #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
        return Viewer::of_document();
        #[allow(unreachable_code)]
        Viewer::default()
    }

    #[cfg(feature = "ssr")]
    fn of_request() -> Viewer {
        use conveyor_core::access::{CsrfToken, Principal, SignInProvider};
        let Some(parts) = use_context::<http::request::Parts>() else {
            return Viewer::default();
        };
        let principal = parts.extensions.get::<Principal>();
        Viewer {
            name: principal.map(|p| p.name.clone()),
            role: principal.map(|p| p.role),
            csrf: parts
                .extensions
                .get::<CsrfToken>()
                .map(|t| t.0.clone())
                .unwrap_or_default(),
            provider: parts
                .extensions
                .get::<SignInProvider>()
                .map(|p| p.0.clone()),
        }
    }

    #[cfg(feature = "hydrate")]
    #[allow(dead_code)]
    fn of_document() -> Viewer {
        let meta = |name: &str| -> Option<String> {
            let document = leptos::prelude::document();
            let element = document
                .query_selector(&format!("meta[name=\"{name}\"]"))
                .ok()??;
            element.get_attribute("content")
        };
        Viewer {
            name: meta(USER_META).filter(|name| !name.is_empty()),
            role: meta(ROLE_META).and_then(|r| r.parse().ok()),
            csrf: meta(CSRF_META).unwrap_or_default(),
            provider: meta(PROVIDER_META).filter(|name| !name.is_empty()),
        }
    }

    /// Whether the viewer's role allows `action` (what the page offers; the server decides).
    pub fn may(&self, action: Action) -> bool {
        self.role.is_some_and(|role| action <= role.reach())
    }

    /// The viewer as the rules that take a principal see them (a signed-in browser acts
    /// with its account's whole role).
    pub fn principal(&self) -> Option<Principal> {
        Some(Principal {
            user_id: 0,
            name: self.name.clone()?,
            role: self.role?,
            scope: None,
        })
    }
}

/// The viewer, as [`ViewerMeta`] and the app provide it.
pub fn viewer() -> Viewer {
    use_context::<Viewer>().unwrap_or_default()
}

/// The `<meta>` tags the browser reads the viewer from.
#[component]
pub fn ViewerMeta() -> impl IntoView {
    let viewer = Viewer::current();
    view! {
        <meta name=USER_META content=viewer.name.unwrap_or_default()/>
        <meta name=ROLE_META content=viewer.role.map(Role::as_str).unwrap_or_default()/>
        <meta name=CSRF_META content=viewer.csrf/>
        <meta name=PROVIDER_META content=viewer.provider.unwrap_or_default()/>
    }
}

/// The hidden field that carries the session's CSRF token in a form.
#[component]
pub fn CsrfField() -> impl IntoView {
    view! { <input type="hidden" name="csrf" value=viewer().csrf/> }
}
