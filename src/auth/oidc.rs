//! Signing in through an OpenID Connect provider: the authorization code flow with PKCE
//! (S256), a random `state` bound to the browser by a cookie and a `nonce` bound to the ID
//! token, both checked; the ID token's signature, issuer, audience and expiry checked by
//! the `openidconnect` crate against the provider's published keys.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use conveyor_core::access::Role;
use conveyor_core::sso::RoleMap;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IdToken, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use serde::{Deserialize, Serialize};

use crate::notify::error_text;

/// The path the provider sends browsers back to.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";
/// The cookie that binds a sign-in in progress to the browser that started it.
pub const STATE_COOKIE: &str = "conveyor_oidc";
/// How long a sign-in at the provider may take.
pub const FLOW_LIFETIME: Duration = Duration::from_secs(600);
/// Sign-ins in progress kept at most (the oldest go first): starting one needs no account.
const MAX_PENDING: usize = 10_000;
/// How long the provider's discovery document and keys are trusted before they are fetched
/// again (keys rotate).
const METADATA_LIFETIME: Duration = Duration::from_secs(900);

/// How the server signs people in through a provider (`--oidc-*`).
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The ID token claim whose values map to roles.
    pub role_claim: String,
    pub role_map: RoleMap,
    /// The role of people no mapping matches; none: they are refused.
    pub default_role: Option<Role>,
    /// The provider's name on the sign-in page.
    pub label: String,
}

/// A person the provider vouched for.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `issuer subject`: unique and stable, whatever the person renames.
    pub subject: String,
    pub preferred_name: Option<String>,
    pub email: Option<String>,
    pub bare_subject: String,
    /// What the role claim grants; `None`: nothing.
    pub role: Option<Role>,
}

/// Why a sign-in through the provider did not happen (said in the log; the browser gets a
/// coarse [`conveyor_core::sso::SsoFailure`]).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error(
        "the sign-in is unknown, was used already, has expired, or was started in another browser"
    )]
    UnknownState,
    #[error("the provider's discovery document could not be had: {0}")]
    Discovery(String),
    #[error("the provider's token endpoint refused the code: {0}")]
    Token(String),
    #[error("the ID token did not verify: {0}")]
    IdToken(String),
    #[error("the configuration is not usable: {0}")]
    Config(String),
}

struct Pending {
    verifier: PkceCodeVerifier,
    nonce: Nonce,
    next: String,
    redirect: String,
    started: Instant,
}

/// The provider as this server uses it.
pub struct Oidc {
    settings: OidcSettings,
    http: reqwest::Client,
    metadata: tokio::sync::Mutex<Option<(Instant, CoreProviderMetadata)>>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

/// Every claim of the ID token besides the standard ones (the role claim is among them).
#[derive(Debug, Deserialize, Serialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for OtherClaims {}

type FullIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

impl Oidc {
    pub fn new(settings: OidcSettings) -> Result<Oidc, OidcError> {
        IssuerUrl::new(settings.issuer.clone()).map_err(|e| OidcError::Config(e.to_string()))?;
        let http = reqwest::Client::builder()
            // Following redirects would let a provider's answer send us anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| OidcError::Config(e.to_string()))?;
        Ok(Oidc {
            settings,
            http,
            metadata: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        })
    }

    pub fn label(&self) -> &str {
        &self.settings.label
    }

    /// The provider's URL to send the browser to, and the state its cookie must carry.
    /// `origin` is this server's (the provider sends the browser back to its callback).
    pub async fn start(&self, origin: &str, next: &str) -> Result<(String, String), OidcError> {
        let redirect = format!("{origin}{CALLBACK_PATH}");
        let client = self.client(&redirect).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let pending = Pending {
            verifier,
            nonce,
            next: next.to_owned(),
            redirect,
            started: Instant::now(),
        };
        let mut flows = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        flows.retain(|_, p| p.started.elapsed() < FLOW_LIFETIME);
        if flows.len() >= MAX_PENDING {
            let oldest = flows
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone());
            oldest.map(|k| flows.remove(&k));
        }
        flows.insert(state.secret().clone(), pending);
        Ok((url.to_string(), state.secret().clone()))
    }

    /// Ends a sign-in the provider sent back: `state` must be the one in the browser's
    /// cookie and one this server started (each is used once); the code is exchanged with
    /// the PKCE verifier; the ID token must verify and carry the nonce. The person, and where
    /// they were going.
    pub async fn finish(
        &self,
        cookie_state: Option<&str>,
        state: &str,
        code: &str,
    ) -> Result<(Identity, String), OidcError> {
        if cookie_state.is_none_or(|cookie| !constant_time_eq(cookie, state)) {
            return Err(OidcError::UnknownState);
        }
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(state)
            .filter(|p| p.started.elapsed() < FLOW_LIFETIME)
            .ok_or(OidcError::UnknownState)?;
        let client = self.client(&pending.redirect).await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Config(e.to_string()))?
            .set_pkce_verifier(pending.verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Token(error_text(&e)))?;
        let raw = response
            .extra_fields()
            .id_token()
            .ok_or_else(|| OidcError::IdToken("the token response has no id_token".into()))?
            .to_string();
        let token = FullIdToken::from_str(&raw).map_err(|e| OidcError::IdToken(e.to_string()))?;
        let verifier = client.id_token_verifier();
        let claims = token
            .claims(&verifier, &pending.nonce)
            .map_err(|e| OidcError::IdToken(error_text(&e)))?;
        let role = self.settings.role_map.role(
            claims
                .additional_claims()
                .claims
                .get(&self.settings.role_claim),
            self.settings.default_role,
        );
        let identity = Identity {
            subject: format!("{} {}", claims.issuer().as_str(), claims.subject().as_str()),
            preferred_name: claims.preferred_username().map(|n| n.as_str().to_owned()),
            email: claims.email().map(|e| e.as_str().to_owned()),
            bare_subject: claims.subject().as_str().to_owned(),
            role,
        };
        Ok((identity, pending.next))
    }

    /// A client for the provider as its discovery document describes it (fetched again
    /// when older than [`METADATA_LIFETIME`]).
    async fn client(
        &self,
        redirect: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let metadata = {
            let mut cached = self.metadata.lock().await;
            match cached.as_ref() {
                Some((fetched, metadata)) if fetched.elapsed() < METADATA_LIFETIME => {
                    metadata.clone()
                }
                _ => {
                    let issuer = IssuerUrl::new(self.settings.issuer.clone())
                        .map_err(|e| OidcError::Config(e.to_string()))?;
                    let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                        .await
                        .map_err(|e| OidcError::Discovery(error_text(&e)))?;
                    *cached = Some((Instant::now(), metadata.clone()));
                    metadata
                }
            }
        };
        let redirect =
            RedirectUrl::new(redirect.to_owned()).map_err(|e| OidcError::Config(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
