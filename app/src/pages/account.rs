//! Your account: your password and API tokens; for admins, everybody's accounts too.

use conveyor_core::access::{Role, Scope, TokenSummary, UserSummary};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::account::{account, AccountAct, AccountControl, UserControl};
use crate::ui::form::{action_error, error_text, post_form, Fields};
use crate::ui::time::Time;

#[component]
pub fn AccountPage() -> impl IntoView {
    let control = ServerAction::<AccountControl>::new();
    let users = ServerAction::<UserControl>::new();
    // Reloaded after each change the page makes.
    let data = Resource::new(
        move || (control.version().get(), users.version().get()),
        |_| account(),
    );
    view! {
        <Title text="Your account · Conveyor"/>
        <h1>"Your account"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! {
                        <p class="muted" id="me">
                            "Signed in as " <strong>{data.me.name.clone()}</strong>
                            {format!(" ({})", data.me.role)}
                        </p>
                        {action_error(control)}
                        <div class="split">
                            <PasswordForm control/>
                            <NewTokenForm control role=data.me.role/>
                        </div>
                        <Tokens control tokens=data.tokens/>
                        {data.users.map(|list| view! { <Accounts action=users users=list/> })}
                    }
                    .into_any(),
                    Err(err) => view! { <p class="error">{error_text(&err)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn act_input(act: AccountAct) -> impl Fn(&Fields) -> AccountControl + 'static {
    move |fields: &Fields| {
        let text = |name: &str| Some(fields.get(name)).filter(|v| !v.is_empty());
        AccountControl {
            act,
            name: text("name"),
            scope: text("scope"),
            expires: text("expires"),
            id: text("id").and_then(|id| id.parse().ok()),
            current: text("current"),
            password: text("password"),
        }
    }
}

#[component]
fn PasswordForm(control: ServerAction<AccountControl>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Password"</h2>
            {post_form(control, Some("password-form"), act_input(AccountAct::Password), view! {
                <input type="hidden" name="act" value=AccountAct::Password.as_str()/>
                <label>"Current password" <input type="password" name="current" autocomplete="current-password" required/></label>
                <label>"New password" <input type="password" name="password" autocomplete="new-password" minlength="10" required/></label>
                <button type="submit">"Change password"</button>
                <p class="muted">"At least 10 characters. Every session of yours ends: sign in again with the new one."</p>
            })}
        </section>
    }
}

#[component]
fn NewTokenForm(control: ServerAction<AccountControl>, role: Role) -> impl IntoView {
    // The token made last, shown this once.
    let made = move || control.value().get().and_then(|r| r.ok()).flatten();
    view! {
        <section class="card">
            <h2>"New API token"</h2>
            {post_form(control, Some("token-form"), act_input(AccountAct::NewToken), view! {
                <input type="hidden" name="act" value=AccountAct::NewToken.as_str()/>
                <label>"What it is for" <input name="name" required maxlength="100" placeholder="deploy script"/></label>
                <label>
                    "Scope "
                    <select name="scope">
                        {Scope::ALL
                            .iter()
                            .filter(|scope| scope.fits(role))
                            .map(|scope| view! { <option value=scope.as_str()>{scope.as_str()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Expires "
                    <select name="expires">
                        <option value="30d">"in 30 days"</option>
                        <option value="7d">"in 7 days"</option>
                        <option value="90d">"in 90 days"</option>
                        <option value="365d">"in a year"</option>
                        <option value="">"never (until revoked)"</option>
                    </select>
                </label>
                <button type="submit" class="primary">"Make token"</button>
            })}
            {move || made().map(|new| view! {
                <div class="new-token" role="status">
                    <p>"Your new token. Copy it now: it is not shown again."</p>
                    <code id="new-token">{new.token}</code>
                </div>
            })}
        </section>
    }
}

#[component]
fn Tokens(control: ServerAction<AccountControl>, tokens: Vec<TokenSummary>) -> impl IntoView {
    let live: Vec<TokenSummary> = tokens
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .collect();
    view! {
        <section class="card">
            <h2>"Your API tokens"</h2>
            {if live.is_empty() {
                view! { <p class="empty">"None yet. Scripts use a token as " <code>"Authorization: Bearer cvy_…"</code></p> }.into_any()
            } else {
                view! {
                    <table class="table" id="tokens">
                        <thead><tr><th>"Name"</th><th>"Scope"</th><th>"Made"</th><th>"Expires"</th><th>"Last used"</th><th></th></tr></thead>
                        <tbody>
                            {live
                                .into_iter()
                                .map(|t| view! {
                                    <tr data-token=t.name.clone()>
                                        <td>{t.name.clone()}</td>
                                        <td><code>{t.scope.as_str()}</code></td>
                                        <td><Time ms=t.created_at/></td>
                                        <td>{t.expires_at.map(|ms| view! { <Time ms/> }.into_any()).unwrap_or_else(|| "never".into_any())}</td>
                                        <td>{t.last_used_at.map(|ms| view! { <Time ms/> }.into_any()).unwrap_or_else(|| "never".into_any())}</td>
                                        <td>
                                            {post_form(control, None, act_input(AccountAct::RevokeToken), view! {
                                                <input type="hidden" name="act" value=AccountAct::RevokeToken.as_str()/>
                                                <input type="hidden" name="id" value=t.id/>
                                                <button type="submit" class="danger">"Revoke"</button>
                                            })}
                                        </td>
                                    </tr>
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                .into_any()
            }}
        </section>
    }
}

fn user_input(fields: &Fields) -> UserControl {
    let text = |name: &str| Some(fields.get(name)).filter(|v| !v.is_empty());
    UserControl {
        name: fields.get("name"),
        role: text("role"),
        disabled: text("disabled"),
        password: text("password"),
        add: text("add"),
    }
}

fn role_options(selected: Role) -> impl IntoView {
    Role::ALL
        .iter()
        .map(|role| view! { <option value=role.as_str() selected=*role == selected>{role.as_str()}</option> })
        .collect_view()
}

/// Everybody's accounts, for admins: add one, change a role, disable or enable.
#[component]
fn Accounts(action: ServerAction<UserControl>, users: Vec<UserSummary>) -> impl IntoView {
    let made = move || action.value().get().and_then(|r| r.ok()).flatten();
    view! {
        <section class="card">
            <h2>"Accounts"</h2>
            <table class="table" id="accounts">
                <thead><tr><th>"Name"</th><th>"Role"</th><th>"Since"</th><th></th></tr></thead>
                <tbody>
                    {users
                        .into_iter()
                        .map(|u| {
                            let (name, again) = (u.name.clone(), u.name.clone());
                            view! {
                                <tr data-user=u.name.clone() class=u.disabled.then_some("disabled")>
                                    <td>{u.name.clone()} {u.disabled.then_some(" (disabled)")}</td>
                                    <td>
                                        {post_form(action, None, user_input, view! {
                                            <input type="hidden" name="name" value=name/>
                                            <select name="role" aria-label="role">{role_options(u.role)}</select>
                                            <button type="submit">"Set role"</button>
                                        })}
                                    </td>
                                    <td><Time ms=u.created_at/></td>
                                    <td>
                                        {post_form(action, None, user_input, view! {
                                            <input type="hidden" name="name" value=again/>
                                            <input type="hidden" name="disabled" value=if u.disabled { "false" } else { "true" }/>
                                            <button type="submit" class=if u.disabled { "" } else { "danger" }>
                                                {if u.disabled { "Enable" } else { "Disable" }}
                                            </button>
                                        })}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <h3>"Add an account"</h3>
            {post_form(action, Some("add-user"), user_input, view! {
                <input type="hidden" name="add" value="yes"/>
                <input name="name" placeholder="name" required aria-label="name"/>
                <select name="role" aria-label="role">{role_options(Role::Developer)}</select>
                <input type="password" name="password" placeholder="password (none: one is made)" autocomplete="new-password" aria-label="password"/>
                <button type="submit" class="primary">"Add"</button>
            })}
            {move || made().map(|password| view! {
                <p class="new-token" role="status">"Its password, shown this once: " <code id="new-password">{password}</code></p>
            })}
            {action_error(action)}
        </section>
    }
}
