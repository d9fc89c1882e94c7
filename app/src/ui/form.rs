//! Forms that post to server functions, with or without the WASM.

use leptos::prelude::*;

use crate::api::StartRun;
use crate::viewer::{viewer, CsrfField};
use conveyor_core::access::{server_fn_needs, Action};

/// The user-facing text of a server function error.
pub(crate) fn error_text(err: &ServerFnError) -> String {
    match err {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}

/// The error of a server action's last call, shown where the form is.
pub(crate) fn action_error<T, O>(action: ServerAction<T>) -> impl IntoView
where
    T: leptos::server_fn::ServerFn<Output = O, Error = ServerFnError>
        + Clone
        + Send
        + Sync
        + 'static,
    O: Clone + Send + Sync + 'static,
{
    move || {
        action
            .value()
            .get()
            .and_then(|result| result.err())
            .map(|err| {
                view! { <p class="error" role="alert">{error_text(&err)}</p> }
            })
    }
}

/// The fields of a submitted form, read by name.
pub(crate) struct Fields(Option<leptos::web_sys::FormData>);

impl Fields {
    fn of(ev: &leptos::ev::SubmitEvent) -> Self {
        use leptos::wasm_bindgen::JsCast;
        let form = ev
            .target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::HtmlFormElement>().ok());
        Self(form.and_then(|form| leptos::web_sys::FormData::new_with_form(&form).ok()))
    }

    /// A field's value; empty when the form has no such field.
    pub(crate) fn get(&self, name: &str) -> String {
        self.0
            .as_ref()
            .and_then(|data| data.get(name).as_string())
            .unwrap_or_default()
    }
}

/// A form that calls a server function. Before the WASM loads it is a plain HTML POST to
/// the function's URL; once hydrated, submitting dispatches `input` (built from the form's
/// fields by name) to `action`, whose result the page shows. Leptos' `ActionForm` does the
/// same through a generic query-string decoder, which puts that decoder and a parser per
/// input type into the WASM; reading the few fields by name costs next to nothing.
///
/// A viewer whose role does not reach what the function needs sees the form disabled, and
/// why (the server refuses the call anyway).
pub(crate) fn post_form<A>(
    action: ServerAction<A>,
    id: Option<&'static str>,
    input: impl Fn(&Fields) -> A + 'static,
    children: impl IntoView,
) -> impl IntoView
where
    A: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
    A::Output: Send + Sync + 'static,
    A::Error: Send + Sync + 'static,
{
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        action.dispatch(input(&Fields::of(&ev)));
    };
    let endpoint = A::PATH.rsplit('/').next().unwrap_or_default();
    let denied = server_fn_needs(endpoint).filter(|needs| !viewer().may(*needs)).map(|needs| {
        let role = match needs {
            Action::Read => "an account",
            Action::Run => "the developer role",
            Action::Admin => "the admin role",
        };
        view! { <p class="hint denied-why">{format!("This needs {role}; yours does not allow it.")}</p> }
    });
    view! {
        <form method="post" action=A::url() id=id on:submit=submit>
            <CsrfField/>
            <fieldset class="plain" disabled=denied.is_some()>
                {children}
            </fieldset>
            {denied}
        </form>
    }
}

/// The fields of the run form (tag and params) as `start_run` takes them.
pub(crate) fn start_run_input(pipeline: String) -> impl Fn(&Fields) -> StartRun + 'static {
    move |fields: &Fields| {
        let params = fields.get("params");
        StartRun {
            pipeline: pipeline.clone(),
            tag: fields.get("tag"),
            params: (!params.is_empty()).then_some(params),
        }
    }
}
