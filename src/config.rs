//! Command line and environment: every `serve` flag has an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use conveyor_core::access::{Role, Scope};
use conveyor_core::definition::EngineKind;
use conveyor_core::sso::RoleMap;

#[derive(Debug, Parser)]
#[command(
    name = "conveyor",
    version,
    about = "Self-hosted CI/CD pipelines with live logs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web UI and the REST API.
    Serve(Box<ServeConfig>),
    /// Check a pipeline definition; exits 1 and lists the problems when it is not valid.
    Validate {
        /// A pipeline in YAML or JSON, a KubeCI Workflow or a taskflow Task.
        file: PathBuf,
    },
    /// Manage the accounts of the server whose data directory this is (on its own machine).
    User {
        #[command(subcommand)]
        action: UserAction,
        /// The server's data directory.
        #[arg(long, env = "CONVEYOR_DATA_DIR", default_value = "data", global = true)]
        data_dir: PathBuf,
    },
    /// API tokens, made on the server's own machine (to bootstrap automation).
    Token {
        #[command(subcommand)]
        action: TokenAction,
        /// The server's data directory.
        #[arg(long, env = "CONVEYOR_DATA_DIR", default_value = "data", global = true)]
        data_dir: PathBuf,
    },
    /// Secrets steps get, set on the server's own machine (values are read from standard
    /// input and never printed).
    Secret {
        #[command(subcommand)]
        action: SecretAction,
        /// The server's data directory.
        #[arg(long, env = "CONVEYOR_DATA_DIR", default_value = "data", global = true)]
        data_dir: PathBuf,
        /// The key that seals stored secrets [default: DATA_DIR/secret.key].
        #[arg(long, env = "CONVEYOR_SECRET_KEY_FILE", global = true)]
        secret_key_file: Option<PathBuf>,
    },
    #[command(flatten)]
    Client(crate::client::ClientCommand),
    /// Apply a workflow's Deployment (its Service and volume claims) to the cluster of the
    /// kubeconfig, server-side; what a workflow's deploy step runs on the local engine.
    DeployManifest {
        /// A `v1` List of objects as JSON; absent: the `MANIFEST` environment variable.
        #[arg(long)]
        file: Option<PathBuf>,
        /// How long to wait for each Deployment to roll out before failing (30s, 5m, 1h).
        #[arg(long, env = "ROLLOUT_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
        rollout_timeout: std::time::Duration,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add an account. Its password is read from standard input with --password-stdin;
    /// else one is made and printed.
    Add {
        name: String,
        /// viewer, developer or admin.
        #[arg(long, default_value = "developer", value_parser = parse::<Role>)]
        role: Role,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set an account's password (read from standard input with --password-stdin; else one
    /// is made and printed). Its sessions end.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account: it cannot sign in, and its sessions and tokens stop working.
    Disable { name: String },
    /// Enable a disabled account again.
    Enable { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SecretAction {
    /// Create or replace a secret; its value is read from standard input (one trailing
    /// newline dropped).
    Set {
        name: String,
        /// Only for this pipeline; none: for every pipeline.
        #[arg(long)]
        pipeline: Option<String>,
    },
    /// Remove a secret.
    Rm {
        name: String,
        #[arg(long)]
        pipeline: Option<String>,
    },
    /// List secrets (names and when they changed).
    List {
        #[arg(long)]
        pipeline: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Make an API token for an account and print it on standard output.
    Create {
        /// The account it acts for.
        #[arg(long)]
        user: String,
        /// read, run or admin: no wider than the account's role.
        #[arg(long, value_parser = parse::<Scope>)]
        scope: Scope,
        /// Lifetime, e.g. 30d; none: until revoked.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
        /// What it is for.
        #[arg(long, default_value = "made on the command line")]
        name: String,
    },
}

fn parse<T: std::str::FromStr<Err = String>>(text: &str) -> Result<T, String> {
    text.parse()
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on (loopback by default; use 0.0.0.0:3000 to expose it).
    #[arg(long, env = "CONVEYOR_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,
    /// The address people and forges reach Conveyor at, e.g. `https://ci.example.com`:
    /// requests naming another host are refused (DNS rebinding), only this origin may make
    /// a signed-in browser change things, and https makes session cookies `Secure`. Needed
    /// when listening beyond loopback [default: any loopback name, on loopback].
    #[arg(long, env = "CONVEYOR_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
    /// A browser session unused this long ends.
    #[arg(long, env = "CONVEYOR_SESSION_IDLE", default_value = "12h", value_parser = humantime::parse_duration)]
    pub session_idle: Duration,
    /// A browser session this old ends, however much it is used.
    #[arg(long, env = "CONVEYOR_SESSION_MAX", default_value = "7d", value_parser = humantime::parse_duration)]
    pub session_max: Duration,
    /// Holds the SQLite file, run workspaces and step scripts.
    #[arg(long, env = "CONVEYOR_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Steps running at once across all runs [default: twice the CPU count].
    #[arg(long, env = "CONVEYOR_MAX_PARALLEL", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_parallel: Option<u16>,
    /// Keep each run's workspace directory after the run ends.
    #[arg(long, env = "CONVEYOR_KEEP_WORKSPACES")]
    pub keep_workspaces: bool,
    /// What runs the local engine's steps that name an image: `podman`, `docker` (or the
    /// path of either), `none` (such steps are refused), or `auto` (podman if installed,
    /// else a reachable docker).
    #[arg(long, env = "CONVEYOR_CONTAINER_RUNTIME", default_value = "auto")]
    pub container_runtime: String,
    /// Registries (`host:port`) the local engine pulls step images from over plain HTTP,
    /// comma-separated.
    #[arg(
        long = "insecure-registry",
        env = "CONVEYOR_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registries: Vec<String>,
    /// Each webhook call's time limit.
    #[arg(long, env = "CONVEYOR_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub webhook_timeout: Duration,
    /// Waits before retrying a failed webhook call (network error, 5xx, 429), comma-separated;
    /// one retry per entry.
    #[arg(long, env = "CONVEYOR_WEBHOOK_RETRY_DELAYS", default_value = "1s,10s", value_delimiter = ',',
          value_parser = humantime::parse_duration)]
    pub webhook_retry_delays: Vec<Duration>,
    /// Where steps run: `local` (processes on this host) or `tekton` (PipelineRuns on the
    /// cluster of the kubeconfig).
    #[arg(long, env = "CONVEYOR_ENGINE", default_value = "local", value_parser = engine_name())]
    pub engine: EngineKind,
    /// Kubeconfig for the Tekton engine [default: KUBECONFIG, ~/.kube/config, or the pod's
    /// service account inside a cluster].
    #[arg(long, env = "CONVEYOR_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace the Tekton engine creates its PipelineRuns in.
    #[arg(long, env = "CONVEYOR_TEKTON_NAMESPACE", default_value = "conveyor")]
    pub tekton_namespace: String,
    /// Service account the task pods run as [default: the namespace's default].
    #[arg(long, env = "CONVEYOR_TEKTON_SERVICE_ACCOUNT")]
    pub tekton_service_account: Option<String>,
    /// Image for steps that name none (it needs a POSIX shell).
    #[arg(
        long,
        env = "CONVEYOR_TEKTON_DEFAULT_IMAGE",
        default_value = "docker.io/library/alpine:3.20"
    )]
    pub tekton_default_image: String,
    /// Size of each run's workspace volume.
    #[arg(long, env = "CONVEYOR_TEKTON_WORKSPACE_SIZE", default_value = "1Gi")]
    pub tekton_workspace_size: String,
    /// Storage class of the workspace volumes [default: the cluster's default].
    #[arg(long, env = "CONVEYOR_TEKTON_STORAGE_CLASS")]
    pub tekton_storage_class: Option<String>,
    /// Key that seals stored secrets (workflow credentials); made (0600) if missing. Keep it
    /// apart from the database [default: DATA_DIR/secret.key].
    #[arg(long, env = "CONVEYOR_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Image builder of workflows on the local engine: podman, buildah, docker or kaniko's
    /// `executor` [default: the first of them on PATH].
    #[arg(long, env = "CONVEYOR_BUILDER")]
    pub builder: Option<PathBuf>,
    /// The conveyor binary a local workflow's deploy step runs (`conveyor deploy-manifest`)
    /// [default: this one].
    #[arg(long, env = "CONVEYOR_SELF", hide = true)]
    pub self_exe: Option<PathBuf>,
    /// Where kubectl would look (`KUBECONFIG`, `~/.kube/config`), found at start by the
    /// CLI: the cluster a local workflow deploys to when `--kubeconfig` is not given.
    #[arg(skip)]
    pub found_kubeconfig: Option<PathBuf>,
    /// The built site (WASM, JS, CSS) that cargo-leptos writes.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Pipelines without a `retention` of their own keep their last N finished runs (and
    /// always their latest successful one) [default: every run].
    #[arg(long, env = "CONVEYOR_KEEP_RUNS", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_runs: Option<u32>,
    /// Pipelines without a `retention` of their own keep the runs of their last D days
    /// (with --keep-runs: a run either keeps is kept).
    #[arg(long, env = "CONVEYOR_KEEP_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_days: Option<u32>,
    /// Between two pruning passes (each pipeline's runs by its retention policy).
    #[arg(long, env = "CONVEYOR_PRUNE_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub prune_interval: Duration,
    /// Start scheduled runs (`on.schedule`); off for a second server on the same database.
    #[arg(long, env = "CONVEYOR_SCHEDULER", default_value_t = true, action = clap::ArgAction::Set)]
    pub scheduler: bool,
    /// Keep the search index over every log (`false`: no indexing; only one run's log can
    /// be searched at a time).
    #[arg(long, env = "CONVEYOR_SEARCH_INDEX", default_value_t = true, action = clap::ArgAction::Set)]
    pub search_index: bool,
    /// How long one page of a log search may read before it returns what it found so far,
    /// with a cursor that goes on from there.
    #[arg(long, env = "CONVEYOR_SEARCH_PAGE_TIME", default_value = "300ms", value_parser = humantime::parse_duration)]
    pub search_page_time: Duration,
    /// A watched Kubernetes object (`on.kubernetes`) must stay unchanged this long before
    /// its changes start one run.
    #[arg(long, env = "CONVEYOR_CHANGE_QUIET", default_value = "500ms", value_parser = humantime::parse_duration)]
    pub change_quiet: Duration,
    #[command(flatten)]
    pub oidc: OidcArgs,
}

/// Signing in through an OpenID Connect provider (Keycloak, Dex, Gitea, GitLab, Google…),
/// besides passwords. Register Conveyor at the provider as a confidential client whose
/// redirect URI is `PUBLIC_URL/auth/oidc/callback`.
#[derive(Debug, Clone, Default, Args)]
pub struct OidcArgs {
    /// The provider's issuer URL (its discovery document is ISSUER/.well-known/openid-configuration).
    #[arg(long, env = "CONVEYOR_OIDC_ISSUER", value_parser = issuer_url)]
    pub oidc_issuer: Option<String>,
    /// The client id Conveyor has at the provider.
    #[arg(long, env = "CONVEYOR_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// A file holding the client secret (or give it in CONVEYOR_OIDC_CLIENT_SECRET; never on
    /// the command line).
    #[arg(long, env = "CONVEYOR_OIDC_CLIENT_SECRET_FILE")]
    pub oidc_client_secret_file: Option<PathBuf>,
    #[arg(skip = std::env::var("CONVEYOR_OIDC_CLIENT_SECRET").ok())]
    pub oidc_client_secret: Option<String>,
    /// Scopes to ask for besides `openid`, comma-separated (add `groups` for Dex and Gitea).
    #[arg(
        long,
        env = "CONVEYOR_OIDC_SCOPES",
        default_value = "profile,email",
        value_delimiter = ','
    )]
    pub oidc_scopes: Vec<String>,
    /// The ID token claim whose values (a list, or one string) give roles.
    #[arg(long, env = "CONVEYOR_OIDC_ROLE_CLAIM", default_value = "groups")]
    pub oidc_role_claim: String,
    /// Claim values and the role each gives, e.g. `ci-admins=admin,developers=developer`;
    /// the widest match wins, at every sign-in.
    #[arg(long, env = "CONVEYOR_OIDC_ROLE_MAP", default_value = "", value_parser = parse::<RoleMap>)]
    pub oidc_role_map: RoleMap,
    /// The role of people no mapping matches [default: none; they are refused].
    #[arg(long, env = "CONVEYOR_OIDC_DEFAULT_ROLE", value_parser = parse::<Role>)]
    pub oidc_default_role: Option<Role>,
    /// The provider's name on the sign-in page.
    #[arg(long, env = "CONVEYOR_OIDC_NAME", default_value = "single sign-on")]
    pub oidc_name: String,
}

impl ServeConfig {
    /// How runs are pruned: the default policy and the pass interval.
    pub fn pruning(&self) -> crate::service::Pruning {
        let default = (self.keep_runs.is_some() || self.keep_days.is_some()).then_some(
            conveyor_core::definition::Retention {
                runs: self.keep_runs,
                days: self.keep_days,
            },
        );
        crate::service::Pruning {
            default,
            every: self.prune_interval,
        }
    }

    /// Defaults for a data directory (used by tests and benchmarks).
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        ServeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            session_idle: Duration::from_secs(12 * 3600),
            session_max: Duration::from_secs(7 * 24 * 3600),
            data_dir,
            max_parallel: None,
            keep_workspaces: false,
            container_runtime: "auto".into(),
            insecure_registries: Vec::new(),
            webhook_timeout: Duration::from_secs(10),
            webhook_retry_delays: vec![Duration::from_secs(1), Duration::from_secs(10)],
            engine: EngineKind::Local,
            kubeconfig: None,
            tekton_namespace: "conveyor".into(),
            tekton_service_account: None,
            tekton_default_image: "docker.io/library/alpine:3.20".into(),
            tekton_workspace_size: "1Gi".into(),
            tekton_storage_class: None,
            secret_key_file: None,
            builder: None,
            self_exe: None,
            found_kubeconfig: None,
            site_root: PathBuf::from("target/site"),
            keep_runs: None,
            keep_days: None,
            prune_interval: Duration::from_secs(600),
            scheduler: true,
            search_index: true,
            search_page_time: Duration::from_millis(300),
            change_quiet: Duration::from_millis(500),
            oidc: OidcArgs::default(),
        }
    }
}

/// `--oidc-issuer`: an http(s) URL, kept exactly as given (tokens must name the issuer
/// exactly as the provider writes it, trailing slash or not).
fn issuer_url(text: &str) -> Result<String, String> {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            Ok(text.to_owned())
        }
        _ => Err(format!("\"{text}\" is not an http(s) URL")),
    }
}

/// `--engine`: one of the engine names, listed in `--help`.
fn engine_name() -> impl TypedValueParser<Value = EngineKind> {
    PossibleValuesParser::new(EngineKind::ALL.map(EngineKind::as_str))
        .try_map(|name| name.parse::<EngineKind>())
}

/// Where kubectl would look: `KUBECONFIG` (its first file), else `~/.kube/config` if present.
pub fn default_kubeconfig() -> Option<PathBuf> {
    if let Some(paths) = std::env::var_os("KUBECONFIG") {
        return std::env::split_paths(&paths).next();
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    Some(home.join(".kube/config")).filter(|path| path.is_file())
}
