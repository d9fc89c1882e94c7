//! The sign-in page: the sign-in provider's button when one is configured, and an account
//! name and password, posted as a plain form (it works before and without the WASM). A
//! refused sign-in comes back here with the error in the URL (a provider's, as a code).

use conveyor_core::sso::SsoFailure;
use leptos::prelude::*;
use leptos::server_fn::error::ServerFnUrlError;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::use_query_map;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::api::account::SignIn;
use crate::ui::form::error_text;
use crate::viewer::viewer;

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let error = move || {
        let query = query.read();
        let from_sign_in = query.get("__path").as_deref() == Some(SignIn::PATH);
        let err = query.get("__err").filter(|_| from_sign_in)?;
        let err = ServerFnUrlError::<ServerFnError>::decode_err(&err);
        Some(view! { <p class="error" role="alert">{error_text(&err)}</p> })
    };
    let sso_error = move || {
        let failure = SsoFailure::from_code(&query.read().get("sso")?)?;
        Some(view! { <p class="error" role="alert">{failure.message()}</p> })
    };
    let provider = viewer().provider.map(|name| {
        let label = format!("Sign in with {name}");
        let href = move || {
            let next: String = next();
            let next = if next.is_empty() {
                "/".to_owned()
            } else {
                next
            };
            let next = utf8_percent_encode(&next, NON_ALPHANUMERIC);
            format!("/auth/oidc/start?next={next}")
        };
        view! {
            // A server route, not a page of the app: the router must let the browser go.
            <a class="button primary sso" rel="external" href=href>{label}</a>
            <p class="or">"or with an account name and password"</p>
        }
    });
    let signed_in = viewer().name.map(|name| {
        view! { <p class="hint">"Signed in as " <strong>{name}</strong> ". Sign in again to switch accounts."</p> }
    });
    view! {
        <section class="card login">
            <h1>"Sign in to Conveyor"</h1>
            {signed_in}
            {error}
            {sso_error}
            {provider}
            <form method="post" action=SignIn::url() class="login-form">
                <input type="hidden" name="next" value=next/>
                <label>
                    "Account name"
                    <input name="name" autocomplete="username" required autofocus/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <button type="submit" class="primary">"Sign in"</button>
            </form>
            <p class="hint">
                "New server? The first admin is " <code>"admin"</code>
                "; its password is in the file " <code>"initial-admin-password"</code>
                " in the data directory (the server's log says where)."
            </p>
        </section>
    }
}
