//! Conveyor's server: the store, engines, service, supervisor, REST API and web UI, wired
//! into a [`Server`] that binds and serves.
#![recursion_limit = "256"]

pub mod auth;
pub mod client;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod engine;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod notify;
pub mod registry;
pub mod secrets;
pub mod service;
pub mod store;
pub mod supervisor;
pub mod triggers;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use conveyor_core::definition::{EngineKind, Problem};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::auth::oidc::{Oidc, OidcSettings};
use crate::cluster::Cluster;
use crate::config::ServeConfig;
use crate::engine::local::{ContainerRuntime, LocalConfig, LocalEngine};
use crate::engine::tekton::compile::TektonSettings;
use crate::engine::tekton::{ClusterConfig, TektonEngine};
use crate::engine::{Engine, Engines};
use crate::http::Site;
use crate::secrets::SecretBox;
use crate::service::{AccountSettings, HostTools, Service, Workflows};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not create the data directory {path}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start the engine")]
    Engine(#[from] engine::EngineError),
    #[error("could not load the secret key")]
    Secrets(#[from] secrets::SecretError),
    #[error("could not open the database")]
    Store(#[from] store::StoreError),
    #[error("could not settle runs left in flight")]
    Service(#[from] service::ServiceError),
    #[error("--bind {0} listens beyond loopback: give --public-url (the address people reach Conveyor at), so requests for other hosts are refused")]
    PublicUrlNeeded(SocketAddr),
    #[error("--public-url {0} must be an http(s) URL with a host, without a path")]
    PublicUrl(String),
    #[error(transparent)]
    Runtime(#[from] engine::local::RuntimeError),
    #[error("sign-in provider: {0}")]
    Oidc(String),
    #[error("could not listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server stopped with an error")]
    Serve(#[source] std::io::Error),
}

/// A server bound to its address, ready to serve.
pub struct Server {
    listener: TcpListener,
    router: Router,
    service: Arc<Service>,
    /// `--public-url`'s origin, when given.
    public_origin: Option<String>,
}

impl Server {
    /// Opens the store, starts the engine and binds the listener.
    pub async fn bind(config: &ServeConfig) -> Result<Server, StartError> {
        let site = site_of(config)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store = Store::open(&config.data_dir.join("conveyor.db")).await?;
        store.search_index().set_page_time(config.search_page_time);
        // Absolute: container runtimes read a relative mount source as a volume name.
        let data_dir =
            std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
        let mut local = LocalConfig::new(data_dir);
        if let Some(max) = config.max_parallel {
            local.max_parallel = max.into();
        }
        local.keep_workspaces = config.keep_workspaces;
        local.runtime = ContainerRuntime::detect(&config.container_runtime, &config.data_dir)
            .await?
            .map(|runtime| {
                Arc::new(runtime.with_insecure_registries(config.insecure_registries.clone()))
            });
        match &local.runtime {
            Some(runtime) => {
                let removed = runtime.remove_leftovers().await;
                if removed > 0 {
                    tracing::warn!(
                        removed,
                        "removed the step containers a previous process left"
                    );
                }
                tracing::info!(runtime = runtime.name(), "container steps run here")
            }
            None => tracing::info!("no container runtime: steps that name an image are refused"),
        }
        let webhooks = notify::WebhookConfig {
            timeout: config.webhook_timeout,
            retry_delays: config.webhook_retry_delays.clone(),
            ..Default::default()
        };
        let local: Arc<dyn Engine> = Arc::new(LocalEngine::new(local));
        let mut cluster = None;
        // Tekton is there when it is the default or a cluster is named, so pipelines can ask for it.
        let tekton: Option<Arc<dyn Engine>> =
            if config.engine == EngineKind::Tekton || config.kubeconfig.is_some() {
                let settings = TektonSettings {
                    namespace: config.tekton_namespace.clone(),
                    service_account: config.tekton_service_account.clone(),
                    default_image: config.tekton_default_image.clone(),
                    workspace_size: config.tekton_workspace_size.clone(),
                    storage_class: config.tekton_storage_class.clone(),
                };
                let client = ClusterConfig {
                    kubeconfig: config.kubeconfig.clone(),
                }
                .client()
                .await?;
                cluster = Some(Cluster::new(client.clone(), &config.tekton_namespace));
                Some(Arc::new(TektonEngine::new(client, settings)))
            } else {
                None
            };
        let engines = match (config.engine, tekton) {
            (EngineKind::Tekton, Some(tekton)) => Engines::new(tekton).with(local),
            (_, Some(tekton)) => Engines::new(local).with(tekton),
            (_, None) => Engines::new(local),
        };
        let key_file = config
            .secret_key_file
            .clone()
            .unwrap_or_else(|| config.data_dir.join("secret.key"));
        let secrets = SecretBox::load_or_create(&key_file)?;
        let host = HostTools {
            builder: config.builder.clone(),
            conveyor: config
                .self_exe
                .clone()
                .or_else(|| std::env::current_exe().ok())
                .unwrap_or_else(|| "conveyor".into()),
            kubeconfig: config
                .kubeconfig
                .clone()
                .or_else(|| config.found_kubeconfig.clone()),
        };
        let service = Service::start(
            store,
            engines,
            webhooks,
            Workflows {
                secrets,
                cluster,
                host,
            },
            AccountSettings {
                session_idle: config.session_idle,
                session_max: config.session_max,
                initial_password_file: service::initial_password_file(&config.data_dir),
                secure_cookies: site
                    .public_origin
                    .as_deref()
                    .is_some_and(|o| o.starts_with("https://")),
                oidc: oidc_of(config)?,
            },
        )
        .await?;
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        if config.scheduler {
            service.keep_schedules();
        }
        service.keep_pruning(config.pruning());
        if config.search_index {
            service.keep_index().await?;
        }
        service.keep_watches(config.change_quiet).await?;
        let public_origin = site.public_origin.clone();
        service.set_public_url(
            public_origin
                .clone()
                .unwrap_or_else(|| format!("http://{addr}")),
        );
        let router = http::router(service.clone(), &config.site_root, addr, site)
            .layer(TraceLayer::new_for_http());
        Ok(Server {
            listener,
            router,
            service,
            public_origin,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Where people open it: the public URL, or the address it listens on.
    pub fn public_url(&self) -> String {
        self.public_origin
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.local_addr()))
    }

    pub fn service(&self) -> Arc<Service> {
        self.service.clone()
    }

    /// Serves until `shutdown` completes. Then runs in flight are ended or let go of (and
    /// recorded) first, which also ends their live event streams, so the server is not
    /// left waiting on browsers that follow them; then open requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let service = self.service.clone();
        let stopping = {
            let service = service.clone();
            async move {
                shutdown.await;
                service.shutdown(Duration::from_secs(10)).await;
            }
        };
        let routes = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, routes)
            .with_graceful_shutdown(stopping)
            .await
            .map_err(StartError::Serve)?;
        service.store().close().await;
        Ok(())
    }
}

/// Where the server is reached: `--public-url`, or loopback. Beyond loopback a public URL
/// is needed, so that requests naming other hosts can be refused.
fn site_of(config: &ServeConfig) -> Result<Site, StartError> {
    let public_origin = match &config.public_url {
        Some(url) => {
            let web = matches!(url.scheme(), "http" | "https") && url.host_str().is_some();
            if !web || url.path() != "/" || url.query().is_some() {
                return Err(StartError::PublicUrl(url.to_string()));
            }
            Some(url.origin().ascii_serialization())
        }
        None if !config.bind.ip().is_loopback() => {
            return Err(StartError::PublicUrlNeeded(config.bind))
        }
        None => None,
    };
    Ok(Site { public_origin })
}

/// The sign-in provider `--oidc-*` configure, when they do.
fn oidc_of(config: &ServeConfig) -> Result<Option<Arc<Oidc>>, StartError> {
    let args = &config.oidc;
    let Some(issuer) = &args.oidc_issuer else {
        return Ok(None);
    };
    let client_id = args
        .oidc_client_id
        .clone()
        .ok_or_else(|| StartError::Oidc("--oidc-issuer needs --oidc-client-id".into()))?;
    let client_secret = match &args.oidc_client_secret_file {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .map_err(|err| StartError::Oidc(format!("cannot read {}: {err}", file.display())))?
                .trim()
                .to_owned(),
        ),
        None => args.oidc_client_secret.clone(),
    };
    let settings = OidcSettings {
        issuer: issuer.clone(),
        client_id,
        client_secret: client_secret.filter(|s| !s.is_empty()),
        scopes: args
            .oidc_scopes
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && s != "openid")
            .collect(),
        role_claim: args.oidc_role_claim.clone(),
        role_map: args.oidc_role_map.clone(),
        default_role: args.oidc_default_role,
        label: args.oidc_name.clone(),
    };
    Oidc::new(settings)
        .map(|oidc| Some(Arc::new(oidc)))
        .map_err(|err| StartError::Oidc(err.to_string()))
}

/// What `conveyor validate` prints: the problems of a document, or nothing when valid.
pub fn validate_file(path: &Path) -> Result<Vec<Problem>, std::io::Error> {
    let source = std::fs::read_to_string(path)?;
    Ok(conveyor_core::document::check_document(&source)
        .err()
        .unwrap_or_default())
}
