//! TLS for Postgres through rustls (ring provider): the tokio-postgres `TlsConnect` bridge,
//! written here because it is forty lines and the ready-made crate pulls in more than it saves.
//!
//! Certificates are verified against the public roots (webpki-roots) plus every certificate in
//! `PGSSLROOTCERT`, and the server name is checked — stricter than libpq's `sslmode=require`, on
//! purpose.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

/// The rustls client configuration: public roots plus `root_cert` (PEM, one or more certs).
pub fn client_config(root_cert: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = root_cert {
        let shown = path.display();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("PGSSLROOTCERT={shown} cannot be read: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("PGSSLROOTCERT={shown} is not a PEM certificate file: {e}"))?;
        if certs.is_empty() {
            return Err(format!(
                "PGSSLROOTCERT={shown} holds no certificate: give a PEM file with the CA that signed the server's certificate"
            ));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                format!("PGSSLROOTCERT={shown} holds a certificate rustls rejects: {e}")
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects one stream; made per connection with the host name to verify.
#[derive(Clone)]
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl RustlsConnect {
    pub fn new(config: Arc<ClientConfig>, host: &str) -> Result<RustlsConnect, String> {
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|_| format!("{host:?} is not a valid TLS server name"))?;
        Ok(RustlsConnect {
            config,
            server_name,
        })
    }
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let connector = tokio_rustls::TlsConnector::from(self.config);
            let tls = connector.connect(self.server_name, stream).await?;
            Ok(RustlsStream(tls))
        })
    }
}

pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    /// No channel binding: SCRAM then runs without `-PLUS`. Binding needs the hash named by
    /// the certificate's signature algorithm, which would mean parsing X.509 here; the
    /// verified TLS session already authenticates the server.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_root_cert_files_are_named() {
        let e = client_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(e.contains("PGSSLROOTCERT=/nonexistent/ca.pem"), "{e}");
        let dir = std::env::temp_dir().join(format!("bb-tls-{}", crate::util::uuid_v4()));
        std::fs::write(&dir, "not a certificate").unwrap();
        let e = client_config(Some(&dir)).unwrap_err();
        std::fs::remove_file(&dir).unwrap();
        assert!(e.contains("holds no certificate"), "{e}");
        assert!(client_config(None).is_ok());
        assert!(RustlsConnect::new(client_config(None).unwrap(), "127.0.0.1").is_ok());
    }
}
