//! What a registry holds: the digest of an image a run pushed, read back from the
//! registry's API (with the same credentials the push used).

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

/// An image a run pushes, and how to ask its registry about it.
#[derive(Clone, PartialEq)]
pub struct ImageLookup {
    /// `name:tag`, as pushed.
    pub image: String,
    /// The step that pushes it.
    pub step: String,
    /// Plain HTTP.
    pub insecure: bool,
    pub username: String,
    pub password: String,
}

// The password never reaches a log line.
impl std::fmt::Debug for ImageLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageLookup")
            .field("image", &self.image)
            .field("step", &self.step)
            .field("insecure", &self.insecure)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl ImageLookup {
    /// The image's digest (`sha256:…`), as its registry serves it now.
    pub async fn digest(&self) -> Result<String, String> {
        self.ask()
            .await
            .map_err(|err| format!("{}: {err}", self.image))
    }

    /// The digest of the image when the registry holds it, `None` when it does not.
    pub async fn existing_digest(&self) -> Result<Option<String>, String> {
        use oci_client::errors::{OciDistributionError as Error, OciErrorCode as Code};
        match self.ask().await {
            Ok(digest) => Ok(Some(digest)),
            Err(Error::ImageManifestNotFoundError(_)) => Ok(None),
            Err(Error::ServerError { code: 404, .. }) => Ok(None),
            Err(Error::RegistryError { envelope, .. })
                if !envelope.errors.is_empty()
                    && envelope
                        .errors
                        .iter()
                        .all(|e| matches!(e.code, Code::ManifestUnknown | Code::NameUnknown)) =>
            {
                Ok(None)
            }
            Err(err) => Err(format!("{}: {err}", self.image)),
        }
    }

    async fn ask(&self) -> Result<String, oci_client::errors::OciDistributionError> {
        let reference: Reference = self.image.parse().map_err(|err| {
            oci_client::errors::OciDistributionError::GenericError(Some(format!(
                "\"{}\" is not an image reference: {err}",
                self.image
            )))
        })?;
        let protocol = if self.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            ..Default::default()
        });
        let auth = if self.username.is_empty() {
            RegistryAuth::Anonymous
        } else {
            RegistryAuth::Basic(self.username.clone(), self.password.clone())
        };
        let digest = client.fetch_manifest_digest(&reference, &auth).await?;
        if is_digest(&digest) {
            Ok(digest)
        } else {
            Err(oci_client::errors::OciDistributionError::GenericError(
                Some("the registry answered with something that is not a sha256 digest".to_owned()),
            ))
        }
    }

    /// `name@digest`: the image exactly as pushed.
    pub fn pinned(&self, digest: &str) -> String {
        let name = match self.image.rsplit_once(':') {
            // A colon after the last slash separates the tag (not a registry's port).
            Some((name, tag)) if !tag.contains('/') => name,
            _ => &self.image,
        };
        format!("{name}@{digest}")
    }
}

/// `sha256:` and 64 lowercase hex digits: the only digest Conveyor records or deploys.
fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::{is_digest, ImageLookup};

    #[test]
    fn only_sha256_digests_are_taken() {
        let good = format!("sha256:{}", "0123456789abcdef".repeat(4));
        assert!(is_digest(&good));
        assert!(!is_digest(&good.replace('a', "A")));
        assert!(!is_digest(&good[..good.len() - 1]));
        assert!(!is_digest(&format!("{good}0")));
        assert!(!is_digest(&good.replace("sha256", "md5")));
        assert!(!is_digest(&format!("sha256:{}é", "0".repeat(63))));
    }

    #[test]
    fn the_pinned_name_drops_the_tag_but_keeps_a_port() {
        let lookup = ImageLookup {
            image: "127.0.0.1:5000/org/web:v2".into(),
            step: "build".into(),
            insecure: true,
            username: String::new(),
            password: String::new(),
        };
        assert_eq!(
            lookup.pinned("sha256:ab"),
            "127.0.0.1:5000/org/web@sha256:ab"
        );
        let untagged = ImageLookup {
            image: "127.0.0.1:5000/org/web".into(),
            ..lookup
        };
        assert_eq!(
            untagged.pinned("sha256:ab"),
            "127.0.0.1:5000/org/web@sha256:ab"
        );
    }
}
