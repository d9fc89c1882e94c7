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
        client.fetch_manifest_digest(&reference, &auth).await
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

#[cfg(test)]
mod tests {
    use super::ImageLookup;

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
