//! Getting Alexa's signing certificate chain: the download itself, a bounded per-URL cache, and an in-memory fake.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use rustls_pki_types::CertificateDer;

use super::cert_url::CertChainUrl;
use super::certificate::parse_chain;

/// A certificate chain, leaf first.
pub type CertChain = Arc<Vec<CertificateDer<'static>>>;

/// Why a chain could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The download failed or timed out.
    #[error("downloading the certificate chain: {0}")]
    Download(String),
    /// The download answered with a non-success status.
    #[error("certificate chain download answered {0}")]
    Status(u16),
    /// The file is larger than any certificate chain.
    #[error("certificate chain too large")]
    TooLarge,
    /// The file is not a PEM certificate chain.
    #[error("certificate chain unreadable: {0}")]
    Unreadable(String),
}

/// Fetches the certificate chain a verified `SignatureCertChainUrl` points to.
pub trait CertFetcher: Debug + Send + Sync {
    /// The chain at `url`.
    fn fetch<'a>(&'a self, url: &'a CertChainUrl) -> BoxFuture<'a, Result<CertChain, FetchError>>;
}

const MAX_CHAIN_BYTES: usize = 64 * 1024;

/// Downloads chains over HTTPS with a timeout, never following redirects.
#[derive(Debug, Clone)]
pub struct HttpCertFetcher {
    http: reqwest::Client,
}

impl HttpCertFetcher {
    /// A fetcher whose downloads give up after `timeout`.
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .build()?;
        Ok(Self { http })
    }

    async fn download(&self, url: &CertChainUrl) -> Result<CertChain, FetchError> {
        let mut response = self
            .http
            .get(url.as_url().clone())
            .send()
            .await
            .map_err(|e| FetchError::Download(e.to_string()))?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_CHAIN_BYTES as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Download(e.to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_CHAIN_BYTES {
                return Err(FetchError::TooLarge);
            }
        }
        parse_chain(&body)
            .map(Arc::new)
            .map_err(|e| FetchError::Unreadable(e.to_string()))
    }
}

impl CertFetcher for HttpCertFetcher {
    fn fetch<'a>(&'a self, url: &'a CertChainUrl) -> BoxFuture<'a, Result<CertChain, FetchError>> {
        Box::pin(self.download(url))
    }
}

/// Keeps fetched chains per URL for a while, in a bounded cache; concurrent misses share one fetch,
/// failures are not cached.
#[derive(Debug)]
pub struct CachedCertFetcher<F> {
    inner: F,
    cache: moka::future::Cache<String, CertChain>,
}

impl<F: CertFetcher> CachedCertFetcher<F> {
    /// Caches up to `capacity` chains, each for `ttl`.
    pub fn new(inner: F, capacity: u64, ttl: Duration) -> Self {
        Self {
            inner,
            cache: moka::future::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }
}

impl<F: CertFetcher> CertFetcher for CachedCertFetcher<F> {
    fn fetch<'a>(&'a self, url: &'a CertChainUrl) -> BoxFuture<'a, Result<CertChain, FetchError>> {
        Box::pin(async move {
            self.cache
                .try_get_with(url.as_str().to_owned(), self.inner.fetch(url))
                .await
                .map_err(|e| (*e).clone())
        })
    }
}

/// Serves fixed chains from memory (tests and offline setups); counts its fetches.
#[derive(Debug, Default)]
pub struct StaticCertFetcher {
    chains: HashMap<String, CertChain>,
    fetches: AtomicUsize,
}

impl StaticCertFetcher {
    /// An empty fetcher: every URL fails.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `chain` at `url` (normalized first; `url` must pass the URL rules).
    pub fn with_chain(
        mut self,
        url: &str,
        chain: Vec<CertificateDer<'static>>,
    ) -> Result<Self, super::cert_url::CertUrlError> {
        let url = CertChainUrl::parse(url)?;
        self.chains.insert(url.as_str().to_owned(), Arc::new(chain));
        Ok(self)
    }

    /// How many fetches were asked of it.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl CertFetcher for StaticCertFetcher {
    fn fetch<'a>(&'a self, url: &'a CertChainUrl) -> BoxFuture<'a, Result<CertChain, FetchError>> {
        Box::pin(async move {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            self.chains
                .get(url.as_str())
                .cloned()
                .ok_or(FetchError::Status(404))
        })
    }
}

impl<T: CertFetcher + ?Sized> CertFetcher for Arc<T> {
    fn fetch<'a>(&'a self, url: &'a CertChainUrl) -> BoxFuture<'a, Result<CertChain, FetchError>> {
        (**self).fetch(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cache_fetches_each_url_once_and_does_not_keep_failures() {
        let inner = Arc::new(
            StaticCertFetcher::new()
                .with_chain(
                    "https://s3.amazonaws.com/echo.api/a.pem",
                    vec![CertificateDer::from(vec![1u8, 2, 3])],
                )
                .unwrap(),
        );
        let cached = CachedCertFetcher::new(inner.clone(), 4, Duration::from_secs(60));
        let a = CertChainUrl::parse("https://s3.amazonaws.com/echo.api/a.pem").unwrap();
        let missing = CertChainUrl::parse("https://s3.amazonaws.com/echo.api/b.pem").unwrap();
        for _ in 0..3 {
            assert!(cached.fetch(&a).await.is_ok());
        }
        assert_eq!(inner.fetches(), 1);
        assert!(cached.fetch(&missing).await.is_err());
        assert!(cached.fetch(&missing).await.is_err());
        assert_eq!(inner.fetches(), 3);
    }
}
