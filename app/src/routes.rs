//! The HTML shell and the router: every page is a lazy route, its code a WASM chunk of its
//! own.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{lazy_route, path, Lazy, LazyRoute, SsrMode};

use crate::api::account::SignOut;
use crate::pages::account::AccountPage;
use crate::pages::actions::ActionsPage;
use crate::pages::audit::AuditPage;
use crate::pages::dashboard::PipelinesPage;
use crate::pages::history::HistoryPage;
use crate::pages::login::LoginPage;
use crate::pages::new_pipeline::NewPipelinePage;
use crate::pages::pipeline::PipelinePage;
use crate::pages::run::RunPage;
use crate::pages::search::SearchPage;
use crate::pages::secrets::SecretsPage;
use crate::pages::versions::VersionsPage;
use crate::pages::workflow::WorkflowPage;
use crate::pages::workflows::{ReleasesPage, WorkflowsPage};
use crate::viewer::{CsrfField, Viewer, ViewerMeta};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    send_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                // The remembered colour theme, before anything paints (no flash).
                <script nonce=use_nonce() inner_html=THEME_BOOT></script>
                <script src="/ui.js" defer></script>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
                <ViewerMeta/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// What a page may load and run: its own files, and inline scripts only with this
/// response's nonce (the hydration and resource scripts carry it), WASM compiled from its own
/// files; no plugins, no framing by other pages, forms only to itself. Styles may be inline
/// (the log viewer sizes itself with a `style` attribute before the WASM runs).
#[cfg(feature = "ssr")]
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(feature = "ssr")]
fn send_content_security_policy() {
    let (Some(nonce), Some(response)) =
        (use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    if let Ok(value) = http::HeaderValue::from_str(&content_security_policy(&nonce)) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

const THEME_BOOT: &str =
    "try { var t = localStorage.getItem('conveyor-theme'); if (t) document.documentElement.dataset.theme = t; } catch (e) {}";

/// Keyboard shortcuts, as the `?` overlay lists them (handled by `/ui.js`).
const SHORTCUTS: &[(&str, &str)] = &[
    ("?", "show or hide this list"),
    ("r", "run: jump to the image tag"),
    ("/", "filter the list"),
    ("t", "switch colour theme (system, dark, light)"),
    ("g p", "go to pipelines"),
    ("g h", "go to history"),
    ("g s", "go to search"),
    ("Esc", "close"),
];

#[component]
fn ShortcutsOverlay() -> impl IntoView {
    view! {
        <div id="shortcuts" class="overlay" hidden role="dialog" aria-modal="true" aria-labelledby="shortcuts-title">
            <div class="card dialog">
                <h2 id="shortcuts-title">"Keyboard shortcuts"</h2>
                <table class="table">
                    <tbody>
                        {SHORTCUTS
                            .iter()
                            .map(|(keys, what)| view! { <tr><td><kbd>{*keys}</kbd></td><td>{*what}</td></tr> })
                            .collect_view()}
                    </tbody>
                </table>
                <button type="button" id="shortcuts-close">"Close"</button>
            </div>
        </div>
    }
}

/// The account in the top bar, and signing out (a plain form post: the next page loads
/// afresh, signed out).
#[component]
fn SignedIn(viewer: Viewer) -> impl IntoView {
    let role = viewer.role.map(|role| role.as_str()).unwrap_or_default();
    viewer.name.map(|name| {
        view! {
            <a href="/account" class="who" title=format!("signed in as {name} ({role}): your account and API tokens")>{name.clone()}</a>
            <form method="post" action=SignOut::url() class="sign-out">
                <CsrfField/>
                <button type="submit">"Sign out"</button>
            </form>
        }
    })
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let viewer = Viewer::current();
    provide_context(viewer.clone());
    let signed_in = viewer.name.is_some();
    let admin = viewer.may(conveyor_core::access::Action::Admin);
    view! {
        <Stylesheet id="leptos" href="/pkg/conveyor.css"/>
        <Title text="Conveyor"/>
        <Router>
            <header class="topbar">
                <a href="/" class="brand">"Conveyor"</a>
                {signed_in.then(|| view! {
                    <nav>
                        <A href="/">"Pipelines"</A>
                        <A href="/workflows">"Workflows"</A>
                        <A href="/history">"History"</A>
                        <A href="/search">"Search"</A>
                        <A href="/actions">"Actions"</A>
                        <A href="/secrets">"Secrets"</A>
                        {admin.then(|| view! { <A href="/audit">"Audit"</A> })}
                    </nav>
                })}
                <span class="spacer"></span>
                <button type="button" id="shortcuts-open" class="icon" aria-label="Keyboard shortcuts (?)" title="Keyboard shortcuts (?)">
                    "?"
                </button>
                <button type="button" id="theme-toggle" class="icon" aria-label="Colour theme: system (t to switch)" title="Colour theme (t)">
                    "◐"
                </button>
                <SignedIn viewer/>
            </header>
            <ShortcutsOverlay/>
            <main>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=path!("/account") ssr=SsrMode::InOrder view={Lazy::<AccountRoute>::new()}/>
                    <Route path=path!("/secrets") ssr=SsrMode::InOrder view={Lazy::<SecretsRoute>::new()}/>
                    <Route path=path!("/actions") ssr=SsrMode::InOrder view={Lazy::<ActionsRoute>::new()}/>
                    <Route path=path!("/audit") ssr=SsrMode::InOrder view={Lazy::<AuditRoute>::new()}/>
                    <Route path=path!("/login") ssr=SsrMode::InOrder view={Lazy::<LoginRoute>::new()}/>
                    <Route path=path!("/") ssr=SsrMode::InOrder view={Lazy::<PipelinesRoute>::new()}/>
                    <Route path=path!("/new") ssr=SsrMode::InOrder view={Lazy::<NewPipelineRoute>::new()}/>
                    <Route path=path!("/new/workflow") ssr=SsrMode::InOrder view={Lazy::<WorkflowRoute>::new()}/>
                    <Route path=path!("/workflows") ssr=SsrMode::InOrder view={Lazy::<WorkflowsRoute>::new()}/>
                    <Route path=path!("/workflows/:name") ssr=SsrMode::InOrder view={Lazy::<WorkflowRoute>::new()}/>
                    <Route path=path!("/workflows/:name/releases") ssr=SsrMode::InOrder view={Lazy::<ReleasesRoute>::new()}/>
                    <Route path=path!("/pipelines/:name") ssr=SsrMode::InOrder view={Lazy::<PipelineRoute>::new()}/>
                    <Route path=path!("/pipelines/:name/history") ssr=SsrMode::InOrder view={Lazy::<HistoryRoute>::new()}/>
                    <Route path=path!("/pipelines/:name/versions") ssr=SsrMode::InOrder view={Lazy::<VersionsRoute>::new()}/>
                    <Route path=path!("/history") ssr=SsrMode::InOrder view={Lazy::<HistoryRoute>::new()}/>
                    <Route path=path!("/search") ssr=SsrMode::InOrder view={Lazy::<SearchRoute>::new()}/>
                    <Route path=path!("/runs/:id") ssr=SsrMode::InOrder view={Lazy::<RunRoute>::new()}/>
                </Routes>
            </main>
        </Router>
    }
}

// Every page is a lazy route: its code is a WASM chunk of its own, fetched with the page
// (the server names the chunks a page needs in its HTML) or on first navigation to it, so
// no page ships the code of the others. Each route's data loads inside its view.
macro_rules! lazy_pages {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    )*};
}

lazy_pages! {
    LoginRoute => LoginPage,
    AuditRoute => AuditPage,
    AccountRoute => AccountPage,
    SecretsRoute => SecretsPage,
    ActionsRoute => ActionsPage,
    PipelinesRoute => PipelinesPage,
    NewPipelineRoute => NewPipelinePage,
    WorkflowRoute => WorkflowPage,
    WorkflowsRoute => WorkflowsPage,
    ReleasesRoute => ReleasesPage,
    PipelineRoute => PipelinePage,
    HistoryRoute => HistoryPage,
    VersionsRoute => VersionsPage,
    RunRoute => RunPage,
    SearchRoute => SearchPage,
}
