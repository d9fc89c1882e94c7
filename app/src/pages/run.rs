//! The pages. Each renders on the server first (usable without WASM: forms post to server
//! functions) and hydrates in the browser.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::hooks::{use_params_map, use_query_map};
use leptos_router::{lazy_route, path, Lazy, LazyRoute, SsrMode};

use crate::editor::{EditorPage, EditorState, PipelineHead};
use crate::editor_view::{DefinitionEditor, Saver};
use crate::graph::{GraphInput, Pick, StageGraph};
use crate::live::{follow_changes, follow_run};
use crate::model::{
    is_valid_tag, success_rate, LogLine, PipelineSummary, RecentRun, RunPageData, RunStatus,
    RunSummary, StepStatus, Trigger, WebhookDelivery, TAG_RULE,
};
use crate::server::{
    get_run, list_pipelines, list_runs, pipeline_editor, version_diff, CreatePipeline, RunAct,
    RunControl, StartRun, UpdatePipeline,
};
use crate::workflow_view::WorkflowPage;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                // The remembered colour theme, before anything paints (no flash).
                <script inner_html=THEME_BOOT></script>
                <script src="/ui.js" defer></script>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
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

/// A moment: the exact time (UTC) in the text and on hover; `/ui.js` turns the text into
/// "5 min ago" and keeps it fresh.
#[component]
fn Time(ms: i64) -> impl IntoView {
    let exact = format_time(ms);
    let title = exact.clone();
    let iso = utc_fields(ms)
        .map(|(y, mo, d, h, mi, s)| format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"))
        .unwrap_or_default();
    view! { <time datetime=iso data-ms=ms.to_string() title=title>{exact}</time> }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/conveyor.css"/>
        <Title text="Conveyor"/>
        <Router>
            <header class="topbar">
                <a href="/" class="brand">"Conveyor"</a>
                <nav>
                    <A href="/">"Pipelines"</A>
                    <A href="/history">"History"</A>
                </nav>
                <span class="spacer"></span>
                <button type="button" id="shortcuts-open" class="icon" aria-label="Keyboard shortcuts (?)" title="Keyboard shortcuts (?)">
                    "?"
                </button>
                <button type="button" id="theme-toggle" class="icon" aria-label="Colour theme: system (t to switch)" title="Colour theme (t)">
                    "◐"
                </button>
            </header>
            <ShortcutsOverlay/>
            <main>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=path!("/") ssr=SsrMode::InOrder view={Lazy::<PipelinesRoute>::new()}/>
                    <Route path=path!("/new") ssr=SsrMode::InOrder view={Lazy::<NewPipelineRoute>::new()}/>
                    <Route path=path!("/new/workflow") ssr=SsrMode::InOrder view={Lazy::<WorkflowRoute>::new()}/>
                    <Route path=path!("/workflows/:name") ssr=SsrMode::InOrder view={Lazy::<WorkflowRoute>::new()}/>
                    <Route path=path!("/pipelines/:name") ssr=SsrMode::InOrder view={Lazy::<PipelineRoute>::new()}/>
                    <Route path=path!("/pipelines/:name/history") ssr=SsrMode::InOrder view={Lazy::<HistoryRoute>::new()}/>
                    <Route path=path!("/pipelines/:name/versions") ssr=SsrMode::InOrder view={Lazy::<VersionsRoute>::new()}/>
                    <Route path=path!("/history") ssr=SsrMode::InOrder view={Lazy::<HistoryRoute>::new()}/>
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
    PipelinesRoute => PipelinesPage,
    NewPipelineRoute => NewPipelinePage,
    WorkflowRoute => WorkflowPage,
    PipelineRoute => PipelinePage,
    HistoryRoute => HistoryPage,
    VersionsRoute => VersionsPage,
    RunRoute => RunPage,
}

/// The user-facing text of a server function error.
pub(crate) fn error_text(err: &ServerFnError) -> String {
    match err {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn action_error<T: Send + Sync + 'static, O: Clone + Send + Sync + 'static>(
    action: ServerAction<T>,
) -> impl IntoView
where
    T: leptos::server_fn::ServerFn<Output = O, Error = ServerFnError> + Clone,
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
    view! {
        <form method="post" action=A::url() id=id on:submit=submit>
            {children}
        </form>
    }
}

/// One of the run page's buttons: a form of its own that posts `act` on run `id` (and, for
/// an approval or refusal, its step) to `run_control`.
fn control_form(
    action: ServerAction<RunControl>,
    id: i64,
    act: RunAct,
    step: Option<String>,
    button: impl IntoView,
) -> impl IntoView {
    let input = {
        let step = step.clone();
        move |_: &Fields| RunControl {
            id,
            act,
            step: step.clone(),
        }
    };
    post_form(
        action,
        None,
        input,
        view! {
            <input type="hidden" name="id" value=id/>
            <input type="hidden" name="act" value=act.as_str()/>
            {step.map(|step| view! { <input type="hidden" name="step" value=step/> })}
            {button}
        },
    )
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

/// A run or step status as a coloured pill (its class is the status name).
pub(crate) fn status_badge(status: impl std::fmt::Display) -> impl IntoView {
    let name = status.to_string();
    view! { <span class=format!("badge {name}")>{name.replace('_', " ")}</span> }
}

pub fn format_time(ms: i64) -> String {
    utc_fields(ms)
        .map(|(y, mo, d, h, mi, s)| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC"))
        .unwrap_or_default()
}

/// A Unix time in milliseconds as UTC (year, month, day, hour, minute, second). Formatted by
/// hand: chrono's format-string parser would add its own code to the WASM.
fn utc_fields(ms: i64) -> Option<(i32, u32, u32, u32, u32, u32)> {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::from_timestamp_millis(ms)?;
    Some((
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    ))
}

pub fn format_duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..=999 => format!("{ms}ms"),
        // Tenths by integer arithmetic: float formatting would add its own code to the WASM.
        1_000..=59_999 => {
            let tenths = (ms + 50) / 100;
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
        _ => format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

#[component]
fn PipelinesPage() -> impl IntoView {
    let pipelines = Resource::new(|| (), |_| list_pipelines());
    let filter = RwSignal::new(String::new());
    view! {
        <Title text="Pipelines · Conveyor"/>
        <div class="page-head">
            <h1>"Pipelines"</h1>
            <input
                type="search"
                id="filter"
                data-filter
                placeholder="Filter by name, description or tag ( / )"
                aria-label="Filter pipelines by name, description or latest tag"
                aria-keyshortcuts="/"
                on:input=move |ev| filter.set(event_target_value(&ev).to_lowercase())
            />
        </div>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match pipelines.await {
                    Ok(list) => {
                        // Live: runs created or changing status anywhere update their row.
                        let rows = RwSignal::new(list);
                        let live = RwSignal::new(false);
                        follow_changes(rows, live);
                        let table = move || {
                            let list = rows.get();
                            if list.is_empty() {
                                return view! { <p class="empty">"No pipelines yet: start with New pipeline or New workflow."</p> }.into_any();
                            }
                            view! {
                                <table class="table" id="pipelines" data-live=move || live.get().to_string()>
                                    <thead>
                                        <tr>
                                            <th>"Pipeline"</th>
                                            <th>"Latest run"</th>
                                            <th>"Tag"</th>
                                            <th>"When"</th>
                                            <th>"Duration"</th>
                                            <th>"Recent runs"</th>
                                            <th>"Success"</th>
                                        </tr>
                                    </thead>
                                    <tbody>{list.into_iter().map(|p| pipeline_row(p, filter)).collect_view()}</tbody>
                                </table>
                            }
                            .into_any()
                        };
                        table.into_any()
                    }
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
        <p class="new-pipeline">
            <a class="button primary" href="/new" id="new-pipeline">"New pipeline"</a>
            <span class="muted">" in the graph editor, or from YAML, JSON, a KubeCI Workflow or a taskflow Task. "</span>
            <a class="button" href="/new/workflow" id="new-workflow">"New workflow"</a>
            <span class="muted">" git repository → image → Kubernetes Deployment"</span>
        </p>
    }
}

fn pipeline_row(p: PipelineSummary, filter: RwSignal<String>) -> impl IntoView {
    let href = format!("/pipelines/{}", p.name);
    let haystack = format!(
        "{} {} {}",
        p.name,
        p.description.as_deref().unwrap_or_default(),
        p.latest_run
            .as_ref()
            .map(|r| r.tag.as_str())
            .unwrap_or_default(),
    )
    .to_lowercase();
    view! {
        <tr data-pipeline=p.name.clone() hidden=move || !haystack.contains(filter.read().as_str())>
            <td>
                <a href=href>{p.name.clone()}</a>
                <div class="muted">{p.description.clone().unwrap_or_default()}</div>
            </td>
            {latest_run_cells(p.latest_run)}
            <td><Sparkline recent=p.recent.clone()/></td>
            <td class="rate">{success_rate(&p.recent).map(|rate| format!("{rate}%"))}</td>
        </tr>
    }
}

/// Bar heights for runs' durations, the longest `room` high (runs without a duration, and
/// very short ones, get 2); with the longest duration (at least 1 ms).
fn bar_heights(runs: &[RecentRun], room: i64) -> (i64, Vec<i64>) {
    let longest = runs
        .iter()
        .filter_map(|r| r.duration_ms)
        .max()
        .unwrap_or(0)
        .max(1);
    (
        longest,
        runs.iter()
            .map(|r| r.duration_ms.map_or(2, |d| (d * room / longest).max(2)))
            .collect(),
    )
}

/// The durations of a pipeline's last runs as bars, coloured by outcome.
#[component]
fn Sparkline(recent: Vec<RecentRun>) -> impl IntoView {
    const WIDTH: usize = 120;
    const HEIGHT: i64 = 28;
    let (_, heights) = bar_heights(&recent, HEIGHT - 2);
    let step = if recent.is_empty() {
        0
    } else {
        WIDTH / recent.len().max(6)
    };
    let label = format!(
        "last {} runs: {}",
        recent.len(),
        recent
            .iter()
            .map(|r| format!(
                "{} {}",
                r.status,
                r.duration_ms.map(format_duration).unwrap_or_default()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let bars = recent
        .iter()
        .zip(heights)
        .enumerate()
        .map(|(i, (run, height))| {
            let title = format!(
                "{} · {}",
                run.status,
                run.duration_ms.map(format_duration).unwrap_or_default()
            );
            view! {
                <rect
                    class=run.status.as_str()
                    x=(i * step).to_string()
                    y=(HEIGHT - height).to_string()
                    width=step.saturating_sub(2).max(1).to_string()
                    height=height.to_string()
                >
                    <title>{title}</title>
                </rect>
            }
        })
        .collect_view();
    view! {
        <svg class="spark" width=WIDTH.to_string() height=HEIGHT.to_string() role="img" aria-label=label>
            {bars}
        </svg>
    }
}

fn latest_run_cells(run: Option<RunSummary>) -> impl IntoView {
    match run {
        None => view! { <td colspan="4" class="muted">"never run"</td> }.into_any(),
        Some(run) => view! {
            <td>
                <a href=format!("/runs/{}", run.id)>{format!("#{} ", run.number)}</a>
                {status_badge(run.status)}
            </td>
            <td><code>{run.tag.clone()}</code></td>
            <td><Time ms=run.created_at/></td>
            <td>{run.duration_ms().map(format_duration).unwrap_or_default()}</td>
        }
        .into_any(),
    }
}

#[component]
fn PipelinePage() -> impl IntoView {
    let params = use_params_map();
    let page = Resource::new(move || params.read().get("name"), pipeline_editor);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(EditorPage { head: Some(head), state }) => view! { <PipelineEditor head state/> }.into_any(),
                    Ok(EditorPage { head: None, .. }) => view! { <p class="error">"No such pipeline."</p> }.into_any(),
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A new pipeline: the editor on a template; saving creates it.
#[component]
fn NewPipelinePage() -> impl IntoView {
    let page = Resource::new(|| (), |_| pipeline_editor(None));
    let create = ServerAction::<CreatePipeline>::new();
    view! {
        <Title text="New pipeline · Conveyor"/>
        <div class="page-head">
            <h1>"New pipeline"</h1>
            <span class="muted">"Build it in the graph, or write or paste YAML, JSON, a KubeCI Workflow or a taskflow Task."</span>
        </div>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) => view! { <DefinitionEditor initial=page.state saver=Saver::Create(create)/> }.into_any(),
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn PipelineEditor(head: PipelineHead, state: EditorState) -> impl IntoView {
    let name = head.name.clone();
    let save = ServerAction::<UpdatePipeline>::new();
    let run = ServerAction::<StartRun>::new();
    let tag = RwSignal::new(String::new());
    let tag_hint = move || {
        let tag = tag.read();
        (!tag.is_empty() && !is_valid_tag(&tag)).then(|| view! { <p class="hint">{TAG_RULE}</p> })
    };
    let version = move || {
        save.value()
            .get()
            .and_then(|r| r.ok())
            .unwrap_or(head.version)
    };
    let title = format!("{name} · Conveyor");
    let history_href = format!("/pipelines/{name}/history");
    let run_pipeline = name.clone();
    view! {
        <Title text=title/>
        <div class="page-head">
            <h1>{name.clone()}</h1>
            <span class="muted">"version " {version}</span>
            <span class="muted" id="pipeline-engine" title="where runs of this pipeline go (set `engine:` to choose)">
                "engine " <code>{head.engine.clone()}</code>
            </span>
            <a href=history_href>"History"</a>
            <a href=format!("/pipelines/{name}/versions")>"Versions"</a>
            {head.latest_run.map(|r| view! {
                <span class="muted">"latest: "</span>
                <a href=format!("/runs/{}", r.id)>{format!("#{}", r.number)}</a>
                {status_badge(r.status)}
            })}
        </div>
        <section class="card run-box">
            {post_form(run, Some("run-form"), start_run_input(run_pipeline.clone()), view! {
                <input type="hidden" name="pipeline" value=run_pipeline/>
                <label for="tag">"Image tag"</label>
                <input
                    id="tag"
                    name="tag"
                    placeholder="v1.0.0"
                    autocomplete="off"
                    list="recent-tags"
                    aria-keyshortcuts="r"
                    required
                    on:input=move |ev| tag.set(event_target_value(&ev))
                />
                <datalist id="recent-tags"></datalist>
                <button type="submit" class="primary" id="run-button">"Run"</button>
                <span class="muted">"press " <kbd>"r"</kbd> " to jump here"</span>
                <details class="params">
                    <summary>"Params"</summary>
                    <label for="params" class="muted">"One NAME=value per line; they override the pipeline's "<code>"with"</code>"."</label>
                    <textarea id="params" name="params" class="code" rows="3" spellcheck="false" placeholder="ENV=staging"></textarea>
                </details>
            })}
            {tag_hint}
            {action_error(run)}
        </section>
        {match head.workflow_graph {
            Some(input) => view! {
                <section class="card" id="workflow-note">
                    <p>
                        "This pipeline is a workflow: its stages come from its "
                        <a href=format!("/workflows/{name}") id="deployment-settings">"deployment settings"</a> "."
                    </p>
                    <StageGraph input/>
                </section>
            }
            .into_any(),
            None => view! { <DefinitionEditor initial=state saver=Saver::Update(StoredValue::new(name), save)/> }.into_any(),
        }}
    }
}

#[component]
fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let detail = Resource::new(
        move || {
            params
                .read()
                .get("id")
                .and_then(|id| id.parse::<i64>().ok())
                .unwrap_or(0)
        },
        get_run,
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => view! { <RunView detail/> }.into_any(),
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RunView(detail: RunPageData) -> impl IntoView {
    let run_id = detail.run.id;
    let run = RwSignal::new(detail.run.clone());
    let steps = RwSignal::new(detail.steps.clone());
    let lines: RwSignal<Vec<LogLine>> = RwSignal::new(Vec::new());
    let tail = detail.log_tail;
    let tail_len = tail.len();
    follow_run(run_id, run, steps, lines);
    let selected: RwSignal<Option<String>> = RwSignal::new(None);
    let search = RwSignal::new(String::new());
    // The lines a step pick or a search leaves, as indices (`None`: all of them, without
    // building a million-entry list).
    let shown: Memo<Option<Vec<usize>>> = Memo::new(move |_| {
        let filter = selected.get();
        let needle = search.get().to_lowercase();
        if filter.is_none() && needle.is_empty() {
            return None;
        }
        Some(lines.with(|lines| {
            lines
                .iter()
                .enumerate()
                .filter(|(_, line)| filter.as_ref().is_none_or(|s| *s == line.step))
                .filter(|(_, line)| needle.is_empty() || line.text.to_lowercase().contains(&needle))
                .map(|(i, _)| i)
                .collect()
        }))
    });
    let viewer = LogViewer::new(lines, shown);
    let control = ServerAction::<RunControl>::new();
    let pipeline = detail.run.pipeline.clone();
    let graph = move || GraphInput::from_steps(&steps.read());
    view! {
        <Title text=format!("{} #{} · Conveyor", pipeline, detail.run.number)/>
        <div class="page-head">
            <h1>
                <a href=format!("/pipelines/{pipeline}")>{pipeline.clone()}</a>
                {format!(" #{}", detail.run.number)}
            </h1>
            <span id="run-status">{move || status_badge(run.read().status)}</span>
            <span class="muted">"tag " <code>{detail.run.tag.clone()}</code></span>
            <span class="muted">{format!("version {}", detail.run.version)}</span>
            <span class="muted" id="run-engine" title="where this run's steps ran">
                "engine " <code>{detail.run.engine.clone()}</code>
            </span>
            <span class="muted">
                {move || {
                    let r = run.read();
                    r.duration_ms().map(|d| format!("took {}", format_duration(d))).unwrap_or_default()
                }}
            </span>
            <Show
                when=move || !run.read().status.is_terminal()
                fallback=move || {
                    let failed = run.read().status != RunStatus::Succeeded;
                    view! {
                        {control_form(control, run_id, RunAct::Rerun, None, view! {
                            <button type="submit" id="rerun" title="Run the same tag and params again">"Re-run"</button>
                        })}
                        {failed.then(|| view! {
                            {control_form(control, run_id, RunAct::RetryFailed, None, view! {
                                <button
                                    type="submit"
                                    id="retry-failed"
                                    title="Run again only the steps that did not succeed, in this run's workspace"
                                >
                                    "Re-run failed steps"
                                </button>
                            })}
                        })}
                    }
                }
            >
                {control_form(control, run_id, RunAct::Cancel, None, view! {
                    <button type="submit" class="danger">"Cancel"</button>
                })}
            </Show>
            <a href=format!("/api/v1/runs/{run_id}/log") download>"Raw log"</a>
        </div>
        {move || run.read().message.clone().map(|m| view! { <p class="muted">{m}</p> })}
        {action_error(control)}
        <div class="split">
            <section class="card">
                <h2>"Steps"</h2>
                <table class="table steps" id="steps">
                    <tbody>
                        {move || {
                            steps
                                .get()
                                .into_iter()
                                .map(|step| {
                                    let name = step.name.clone();
                                    let pick = name.clone();
                                    let (approve_step, refuse_step) = (name.clone(), name.clone());
                                    let waiting = step.status == StepStatus::WaitingApproval;
                                    view! {
                                        <tr data-step=name.clone() data-status=step.status.as_str()>
                                            <td class="muted">{step.stage.clone()}</td>
                                            <td>
                                                <button class="link" on:click=move |_| selected.set(Some(pick.clone()))>
                                                    {name.clone()}
                                                </button>
                                            </td>
                                            <td>{status_badge(step.status)}</td>
                                            <td class="muted">
                                                {match (step.started_at, step.finished_at) {
                                                    (Some(s), Some(f)) => format_duration(f - s),
                                                    _ => String::new(),
                                                }}
                                            </td>
                                            <td class="muted">{step.message.clone().unwrap_or_default()}</td>
                                            <td>
                                                {waiting
                                                    .then(|| {
                                                        view! {
                                                            {control_form(control, run_id, RunAct::Approve, Some(approve_step), view! {
                                                                <button type="submit" class="primary">"Approve"</button>
                                                            })}
                                                            {control_form(control, run_id, RunAct::Refuse, Some(refuse_step), view! {
                                                                <button type="submit" class="danger">"Refuse"</button>
                                                            })}
                                                        }
                                                    })}
                                            </td>
                                        </tr>
                                    }
                                })
                                .collect_view()
                        }}
                    </tbody>
                </table>
            </section>
            <section class="card">
                <h2>"Graph"</h2>
                {move || {
                    // Clicking a step shows its log alone.
                    let input = graph();
                    let names: Vec<String> = input.steps.iter().map(|s| s.name.clone()).collect();
                    let picked = selected.get().and_then(|name| names.iter().position(|n| *n == name)).map(Pick::Step);
                    let on_pick = Callback::new(move |(pick, _): (Pick, bool)| {
                        if let Pick::Step(index) = pick {
                            selected.set(names.get(index).cloned());
                        }
                    });
                    view! { <StageGraph input on_pick picked/> }
                }}
            </section>
        </div>
        <section class="card">
            <div class="log-head">
                <h2>"Log"</h2>
                {move || {
                    selected
                        .get()
                        .map(|step| {
                            view! {
                                <span class="muted">"step " <code>{step}</code></span>
                                <button class="link" on:click=move |_| selected.set(None)>"show all"</button>
                            }
                        })
                }}
            </div>
            <div class="log-tools">
                <input
                    type="search"
                    id="log-search"
                    data-filter
                    placeholder="Search the log ( / )"
                    aria-label="Search the log"
                    on:input=move |ev| search.set(event_target_value(&ev))
                />
                <span class="muted" id="log-count" aria-live="polite">
                    {move || {
                        let total = lines.with(Vec::len);
                        let shown = viewer.count();
                        match (total, tail_len) {
                            // Before the live log: the server's tail is what is shown.
                            (0, 1..) => format!("last {tail_len} lines"),
                            _ if shown == total => format!("{total} lines"),
                            _ => format!("{shown} of {total} lines"),
                        }
                    }}
                </span>
                <label class="muted">
                    <input
                        type="checkbox"
                        id="log-follow"
                        prop:checked=move || viewer.follow.get()
                        on:change=move |ev| {
                            viewer.follow.set(event_target_checked(&ev));
                            viewer.to_end();
                        }
                    />
                    " follow"
                </label>
            </div>
            {viewer.view(tail)}
        </section>
        {(!detail.webhooks.is_empty()).then(|| view! { <WebhookTable deliveries=detail.webhooks.clone()/> })}
    }
}

/// Height of one log line in pixels (the CSS `pre.log .line` height).
const LINE_PX: usize = 19;
/// Lines drawn above and below the visible ones.
const OVERSCAN: usize = 30;

/// The log, virtualised: a spacer as tall as every line, and only the lines in view (plus
/// a margin) in the page, so a million lines cost what fifty do. Follows the end until the
/// reader scrolls up; a `#step-<name>-L<n>` link scrolls to its line and marks it once the
/// line has arrived.
#[derive(Clone, Copy)]
struct LogViewer {
    lines: RwSignal<Vec<LogLine>>,
    shown: Memo<Option<Vec<usize>>>,
    /// Pixels, as the DOM reports them (integers: no float formatting in the WASM).
    scroll: RwSignal<i32>,
    height: RwSignal<i32>,
    follow: RwSignal<bool>,
    /// The linked line (step, number), and whether it has been scrolled to.
    linked: RwSignal<Option<(String, usize)>>,
    reached: StoredValue<bool>,
    node: NodeRef<leptos::html::Pre>,
}

fn parse_line_anchor(hash: &str) -> Option<(String, usize)> {
    let rest = hash.trim_start_matches('#').strip_prefix("step-")?;
    let (step, number) = rest.rsplit_once("-L")?;
    Some((step.to_owned(), number.parse().ok()?))
}

impl LogViewer {
    fn new(lines: RwSignal<Vec<LogLine>>, shown: Memo<Option<Vec<usize>>>) -> LogViewer {
        let viewer = LogViewer {
            lines,
            shown,
            scroll: RwSignal::new(0),
            height: RwSignal::new(600),
            follow: RwSignal::new(true),
            linked: RwSignal::new(None),
            reached: StoredValue::new(false),
            node: NodeRef::new(),
        };
        // The link in the address, now and whenever it changes.
        Effect::new(move |started: Option<()>| {
            viewer.read_hash();
            if started.is_none() {
                let listener =
                    window_event_listener(leptos::ev::hashchange, move |_| viewer.read_hash());
                on_cleanup(move || listener.remove());
            }
        });
        // New lines: keep the end in view, or go to the linked line once it is there.
        Effect::new(move |_| {
            let count = viewer.count();
            if let Some((step, number)) = viewer.linked.get() {
                if !viewer.reached.get_value() {
                    let found = viewer.position(|line| line.step == step && line.number == number);
                    if let Some(at) = found {
                        viewer.reached.set_value(true);
                        viewer.scroll_to(
                            (at * LINE_PX) as i64 - i64::from(viewer.height.get_untracked() / 2),
                        );
                    }
                    return;
                }
            }
            if viewer.follow.get_untracked() && count > 0 {
                viewer.to_end();
            }
        });
        viewer
    }

    fn read_hash(self) {
        let hash = window().location().hash().unwrap_or_default();
        if let Some(target) = parse_line_anchor(&hash) {
            self.follow.set(false);
            self.reached.set_value(false);
            self.linked.set(Some(target));
        }
    }

    fn count(self) -> usize {
        self.shown
            .with(|s| s.as_ref().map(Vec::len))
            .unwrap_or_else(|| self.lines.with(Vec::len))
    }

    /// Index into `lines` of the `k`-th shown line.
    fn index(self, k: usize) -> usize {
        self.shown.with(|s| s.as_ref().map_or(k, |s| s[k]))
    }

    fn position(self, want: impl Fn(&LogLine) -> bool) -> Option<usize> {
        self.lines.with(|lines| match self.shown.get_untracked() {
            None => lines.iter().position(want),
            Some(shown) => shown.iter().position(|&i| want(&lines[i])),
        })
    }

    fn scroll_to(self, top: i64) {
        if let Some(log) = self.node.get_untracked() {
            log.set_scroll_top(top.clamp(0, i64::from(i32::MAX)) as i32);
            self.scroll.set(log.scroll_top());
        }
    }

    fn to_end(self) {
        if self.follow.get_untracked() {
            self.scroll_to((self.count() * LINE_PX) as i64);
        }
    }

    fn on_scroll(self) {
        if let Some(log) = self.node.get_untracked() {
            self.scroll.set(log.scroll_top());
            self.height.set(log.client_height());
            // Scrolling up to read stops following; scrolling back to the end follows again.
            self.follow
                .set(log.scroll_height() - log.scroll_top() - log.client_height() < 40);
        }
    }

    /// `tail`: the last lines as the server saw them, shown in the HTML until the live log
    /// has lines (before hydration, and without JavaScript).
    fn view(self, tail: Vec<LogLine>) -> impl IntoView {
        let tail = StoredValue::new(tail);
        let window = move || {
            let count = self.count();
            let first = (self.scroll.get().max(0) as usize / LINE_PX)
                .saturating_sub(OVERSCAN)
                .min(count);
            let last =
                (first + (self.height.get().max(0) as usize).div_ceil(LINE_PX) + 2 * OVERSCAN)
                    .min(count);
            (first, last)
        };
        view! {
            <pre class="log" id="log" tabindex="0" aria-label="Run log" node_ref=self.node on:scroll=move |_| self.on_scroll()>
                <noscript>"The live log needs JavaScript: these are its last lines when the page was made, and the raw log link above has all of them."</noscript>
                {move || (self.count() == 0).then(|| tail.with_value(|tail| {
                    view! { <div class="log-tail">{tail.iter().map(|line| log_line(line, false, false)).collect_view()}</div> }
                }))}
                <div class="log-space" style:height=move || format!("{}px", self.count() * LINE_PX)>
                    <div class="log-window" style:transform=move || format!("translateY({}px)", window().0 * LINE_PX)>
                        {move || {
                            let (first, last) = window();
                            let linked = self.linked.get();
                            self.lines.with(|lines| {
                                (first..last)
                                    .filter_map(|k| lines.get(self.index(k)))
                                    .map(|line| {
                                        let is_linked = linked.as_ref().is_some_and(|(s, n)| *s == line.step && *n == line.number);
                                        log_line(line, is_linked, true)
                                    })
                                    .collect_view()
                            })
                        }}
                    </div>
                </div>
            </pre>
        }
    }
}

/// One line of the log. Lines of the live viewer carry their permalink as `id`; those of
/// the server's tail do not (the live lines replace them, and ids must stay unique).
fn log_line(line: &LogLine, linked: bool, with_id: bool) -> impl IntoView {
    let anchor = format!("step-{}-L{}", line.step, line.number);
    view! {
        <div class=format!("line {}", line.stream) class:linked=linked id=with_id.then(|| anchor.clone())>
            <a class="ln" href=format!("#{anchor}") title="Link to this line">{line.number}</a>
            <span class="step">{line.step.clone()}</span>
            {crate::ansi::spans(&line.text)
                .into_iter()
                .map(|span| {
                    if span.class.is_empty() {
                        span.text.into_any()
                    } else {
                        view! { <span class=span.class>{span.text}</span> }.into_any()
                    }
                })
                .collect_view()}
        </div>
    }
}

/// The webhook calls a run made, as recorded when the page was loaded.
#[component]
fn WebhookTable(deliveries: Vec<WebhookDelivery>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Webhooks"</h2>
            <table class="table" id="webhooks">
                <thead>
                    <tr><th>"Step"</th><th>"Event"</th><th>"Target"</th><th>"Result"</th><th>"Attempts"</th><th>"At"</th></tr>
                </thead>
                <tbody>
                    {deliveries
                        .into_iter()
                        .map(|d| {
                            let result = match (d.ok, d.status_code, d.error) {
                                (true, Some(code), _) => format!("delivered ({code})"),
                                (_, _, Some(error)) => error,
                                _ => "failed".to_owned(),
                            };
                            view! {
                                <tr class=if d.ok { "ok" } else { "failed" }>
                                    <td><code>{d.step}</code></td>
                                    <td>{d.event}</td>
                                    <td><code>{d.target}</code></td>
                                    <td>{result}</td>
                                    <td>{d.attempts}</td>
                                    <td>{format_time(d.at)}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn HistoryPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let pipeline = move || params.read().get("name");
    let text = move |key: &'static str| move || query.read().get(key).filter(|s| !s.is_empty());
    let (status, tag, since, until, trigger) = (
        text("status"),
        text("tag"),
        text("since"),
        text("until"),
        text("trigger"),
    );
    let before = move || {
        query
            .read()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
    };
    let page = Resource::new(
        move || {
            (
                pipeline(),
                status(),
                tag(),
                since(),
                until(),
                trigger(),
                before(),
            )
        },
        |(p, s, t, from, to, how, b)| list_runs(p, s, t, from, to, how, b),
    );
    // The filters as a query string, for the next page's link.
    let filters = move || {
        [
            ("status", status()),
            ("tag", tag()),
            ("since", since()),
            ("until", until()),
            ("trigger", trigger()),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| format!("&{key}={}", encode(&v))))
        .collect::<String>()
    };
    let title = move || match pipeline() {
        Some(name) => format!("History of {name}"),
        None => "History".to_owned(),
    };
    view! {
        <Title text=move || format!("{} · Conveyor", title())/>
        <h1>{title}</h1>
        <form method="get" class="filters">
            <label for="status">"Status"</label>
            <select name="status" id="status">
                <option value="">"any"</option>
                {RunStatus::ALL
                    .iter()
                    .map(|s| {
                        let value = s.as_str();
                        view! {
                            <option value=value selected=move || status().as_deref() == Some(value)>
                                {value.replace('_', " ")}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <label for="tag-filter">"Tag"</label>
            <input type="text" name="tag" id="tag-filter" data-filter value=tag placeholder="v1.2.3" size="10"/>
            <label for="since">"From"</label>
            <input type="date" name="since" id="since" value=since/>
            <label for="until">"to"</label>
            <input type="date" name="until" id="until" value=until/>
            <label for="trigger">"Started by"</label>
            <select name="trigger" id="trigger">
                <option value="">"anyone"</option>
                {Trigger::ALL
                    .iter()
                    .map(|t| {
                        let value = t.as_str();
                        let label = match t {
                            Trigger::Ui => "web UI",
                            Trigger::Api => "API",
                            Trigger::Rerun => "re-run",
                        };
                        view! { <option value=value selected=move || trigger().as_deref() == Some(value)>{label}</option> }
                    })
                    .collect_view()}
            </select>
            <button type="submit">"Filter"</button>
            <a href="?" class="muted">"clear"</a>
        </form>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) if page.runs.is_empty() => view! { <p class="empty">"No runs."</p> }.into_any(),
                    Ok(page) => {
                        let next = page.next_before.map(|b| format!("?before={b}{}", filters()));
                        view! {
                            <RunsChart runs=page.runs.clone()/>
                            <table class="table" id="history">
                                <thead>
                                    <tr>
                                        <th>"Run"</th>
                                        <th>"Status"</th>
                                        <th>"Tag"</th>
                                        <th>"Started"</th>
                                        <th>"Duration"</th>
                                        <th>"By"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {page
                                        .runs
                                        .into_iter()
                                        .map(|run| {
                                            view! {
                                                <tr>
                                                    <td>
                                                        <a href=format!("/runs/{}", run.id)>
                                                            {format!("{} #{}", run.pipeline, run.number)}
                                                        </a>
                                                    </td>
                                                    <td>{status_badge(run.status)}</td>
                                                    <td><code>{run.tag.clone()}</code></td>
                                                    <td>{run.started_at.map(|ms| view! { <Time ms/> })}</td>
                                                    <td>{run.duration_ms().map(format_duration).unwrap_or_default()}</td>
                                                    <td class="muted" data-trigger=run.trigger.as_str()>{run.trigger.as_str()}</td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                            {next.map(|href| view! { <a class="next" href=href>"Older runs →"</a> })}
                        }
                            .into_any()
                    }
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Any two saved versions of a pipeline, side by side as a line diff (a GET form: works
/// without WASM too).
#[component]
fn VersionsPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let name = move || params.read().get("name").unwrap_or_default();
    let number = move |key: &str| query.read().get(key).and_then(|v| v.parse::<i64>().ok());
    let diff = Resource::new(
        move || (name(), number("from"), number("to")),
        |(n, f, t)| version_diff(n, f, t),
    );
    view! {
        <Title text=move || format!("Versions of {} · Conveyor", name())/>
        <div class="page-head">
            <h1>
                <a href=move || format!("/pipelines/{}", name())>{name}</a>
                " · versions"
            </h1>
        </div>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match diff.await {
                    Ok(diff) => {
                        let options = move |selected: i64| {
                            diff.versions
                                .iter()
                                .map(|(version, at)| {
                                    let label = format!("version {version} · {}", format_time(*at));
                                    view! { <option value=version.to_string() selected=*version == selected>{label}</option> }
                                })
                                .collect_view()
                        };
                        let changed = diff.lines.iter().filter(|l| l.kind != "same").count();
                        view! {
                            <form method="get" class="filters" id="compare">
                                <label for="from">"From"</label>
                                <select name="from" id="from">{options(diff.from)}</select>
                                <label for="to">"to"</label>
                                <select name="to" id="to">{options(diff.to)}</select>
                                <button type="submit">"Compare"</button>
                                <span class="muted" id="diff-summary">
                                    {if changed == 0 { "no changes".to_owned() } else { format!("{changed} lines changed") }}
                                </span>
                            </form>
                            <section class="card">
                                <table class="diff" id="diff">
                                    <tbody>
                                        {diff.lines
                                            .into_iter()
                                            .map(|line| {
                                                let sign = match line.kind.as_str() {
                                                    "added" => "+",
                                                    "removed" => "-",
                                                    _ => " ",
                                                };
                                                view! {
                                                    <tr class=line.kind.clone()>
                                                        <td class="ln">{line.old.map(|n| n.to_string())}</td>
                                                        <td class="ln">{line.new.map(|n| n.to_string())}</td>
                                                        <td class="sign">{sign}</td>
                                                        <td class="text">{line.text}</td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            </section>
                        }
                            .into_any()
                    }
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Percent-encodes a query value (dates and tags need little, but `+` and `&` must not leak).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The runs of a history page over time: a bar per run (height = duration, colour =
/// outcome), oldest on the left, with the page's success rate.
#[component]
fn RunsChart(runs: Vec<RunSummary>) -> impl IntoView {
    const WIDTH: i64 = 600;
    const HEIGHT: i64 = 80;
    let mut runs = runs;
    runs.reverse();
    let recent: Vec<RecentRun> = runs
        .iter()
        .map(|r| RecentRun {
            status: r.status,
            duration_ms: r.duration_ms(),
        })
        .collect();
    let (longest, heights) = bar_heights(&recent, HEIGHT - 14);
    let step = WIDTH / (runs.len() as i64).max(10);
    let bars = runs
        .iter()
        .zip(&recent)
        .zip(heights)
        .enumerate()
        .map(|(i, ((run, recent), height))| {
            let title = format!(
                "{} #{} · {} · {} · {}",
                run.pipeline,
                run.number,
                run.tag,
                run.status,
                recent.duration_ms.map(format_duration).unwrap_or_default()
            );
            view! {
                <a href=format!("/runs/{}", run.id)>
                    <rect
                        class=run.status.as_str()
                        x=(i as i64 * step).to_string()
                        y=(HEIGHT - height).to_string()
                        width=(step - 3).max(1).to_string()
                        height=height.to_string()
                    >
                        <title>{title}</title>
                    </rect>
                </a>
            }
        })
        .collect_view();
    let rate = success_rate(&recent);
    view! {
        <section class="card chart">
            <h2>
                "Duration per run "
                <span class="muted" id="success-rate">
                    {rate.map(|r| format!("· {r}% succeeded")).unwrap_or_default()}
                </span>
            </h2>
            <svg
                class="spark runs-chart"
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                preserveAspectRatio="none"
                role="img"
                aria-label=format!("durations of {} runs, oldest first; longest {}", runs.len(), format_duration(longest))
            >
                {bars}
            </svg>
            <p class="muted">"longest " {format_duration(longest)} " · oldest on the left"</p>
        </section>
    }
}
