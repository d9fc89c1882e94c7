//! The run page's log viewer.

use conveyor_core::dto::LogLine;
use leptos::prelude::*;

/// Height of one log line in pixels (the CSS `pre.log .line` height).
const LINE_PX: usize = 19;
/// Lines drawn above and below the visible ones.
const OVERSCAN: usize = 30;

/// The log, virtualised: a spacer as tall as every line, and only the lines in view (plus
/// a margin) in the page, so a million lines cost what fifty do. Follows the end until the
/// reader scrolls up; a `#step-<name>-L<n>` link scrolls to its line and marks it once the
/// line has arrived.
#[derive(Clone, Copy)]
pub struct LogViewer {
    lines: RwSignal<Vec<LogLine>>,
    shown: Memo<Option<Vec<usize>>>,
    /// Pixels, as the DOM reports them (integers: no float formatting in the WASM).
    scroll: RwSignal<i32>,
    height: RwSignal<i32>,
    pub follow: RwSignal<bool>,
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
    pub fn new(lines: RwSignal<Vec<LogLine>>, shown: Memo<Option<Vec<usize>>>) -> LogViewer {
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
        // The link in the address, now and whenever it changes: by the router (a link
        // clicked in the page) or by the browser (an address typed, history).
        let location = leptos_router::hooks::use_location();
        Effect::new(move |started: Option<()>| {
            viewer.read_hash(&location.hash.get());
            if started.is_none() {
                let listener = window_event_listener(leptos::ev::hashchange, move |_| {
                    viewer.read_hash(&window().location().hash().unwrap_or_default())
                });
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

    fn read_hash(self, hash: &str) {
        if let Some(target) = parse_line_anchor(hash) {
            self.follow.set(false);
            self.reached.set_value(false);
            self.linked.set(Some(target));
        }
    }

    pub fn count(self) -> usize {
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

    pub fn to_end(self) {
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
    pub fn view(self, tail: Vec<LogLine>) -> impl IntoView {
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
            {conveyor_core::ansi::spans(&line.text)
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
