//! Certificates for a GoldFish cluster: one CA, and one certificate per node
//! signed by it (what `goldfish certs` makes).
//!
//! Each node certificate carries the node's name as its only subject
//! alternative name (DNS), so it proves that name and no other (no
//! `localhost`, no IP address: a name shared by every node would let any node
//! answer for it). It is usable for both TLS server and client
//! authentication, as every node is both. Keys are ECDSA P-256, PKCS#8 PEM.
//! The CA is valid for 20 years and may sign only end-entity certificates;
//! node certificates for 10 years, from the day before they are made.
//!
//! On disk ([`generate`], [`add_node`]) a folder holds `ca.pem`, `ca.key`,
//! and `<node>.pem` / `<node>.key` for each node; keys are written with mode
//! 0600. Give each node its own pair and `ca.pem`; keep `ca.key` off the
//! nodes.
//!
//! [`add_node`] and [`ClusterCerts::issue`] sign with a CA made here: the
//! CA's subject is fixed, so the issuer is rebuilt from `ca.key` alone, and
//! every new certificate is checked against `ca.pem` before it is written.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use goldfish_core::NodeId;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::ServerName;

use crate::config::{check_node_cert, pem_certs, roots};
use crate::QuicConfig;

/// The CA certificate's file name.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA private key's file name.
pub const CA_KEY_FILE: &str = "ca.key";

const CA_NAME: &str = "GoldFish cluster CA";
const CA_YEARS: i32 = 20;
const NODE_YEARS: i32 = 10;

/// A certificate and its private key, PEM. `Debug` does not print the key.
#[derive(Clone, PartialEq, Eq)]
pub struct CertKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl fmt::Debug for CertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertKey")
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &format_args!("<redacted>"))
            .finish()
    }
}

/// A cluster's certificates held in memory ([`generate_in_memory`]).
#[derive(Clone, Debug)]
pub struct ClusterCerts {
    /// The CA's certificate and key.
    pub ca: CertKey,
    /// Each node's certificate and key, in the order asked for.
    pub nodes: Vec<(NodeId, CertKey)>,
}

impl ClusterCerts {
    /// The certificate and key of `node`, if it is in the set.
    pub fn node(&self, node: NodeId) -> Option<&CertKey> {
        self.nodes.iter().find(|(n, _)| *n == node).map(|(_, c)| c)
    }

    /// A [`QuicConfig`] for `node` listening on `listen`, with default
    /// limits and timings; `None` if `node` is not in the set.
    pub fn config(&self, node: NodeId, listen: SocketAddr) -> Option<QuicConfig> {
        let pair = self.node(node)?;
        Some(QuicConfig::from_pem(
            node,
            listen,
            self.ca.cert_pem.clone(),
            pair.cert_pem.clone(),
            pair.key_pem.clone(),
        ))
    }

    /// A certificate for one more node, signed by this CA (not added to
    /// [`nodes`](Self::nodes)).
    pub fn issue(&self, node: &str) -> Result<CertKey, CertError> {
        let node = check_name(node)?;
        Ca::load(&self.ca.cert_pem, &self.ca.key_pem)?.issue(node)
    }
}

/// The files one node needs besides `ca.pem`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFiles {
    /// The node.
    pub node: NodeId,
    /// Its certificate, `<node>.pem`.
    pub cert: PathBuf,
    /// Its private key, `<node>.key` (mode 0600).
    pub key: PathBuf,
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The CA certificate, `ca.pem`.
    pub ca_cert: PathBuf,
    /// The CA private key, `ca.key` (mode 0600).
    pub ca_key: PathBuf,
    /// Each node's files, in the order asked for.
    pub nodes: Vec<NodeFiles>,
}

/// Why certificates could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum CertError {
    /// A file or folder could not be read or written.
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The folder already has a CA; [`generate_overwriting`] replaces it.
    CaExists(PathBuf),
    /// The folder has no CA to sign with (`ca.pem` and `ca.key`).
    NoCa(PathBuf),
    /// The node already has a certificate or key here.
    NodeExists {
        /// The node.
        node: NodeId,
        /// The file in the way.
        path: PathBuf,
    },
    /// A node name that cannot be used.
    BadName {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The CA files are not a CA made here, or the key is not the
    /// certificate's.
    ForeignCa(String),
    /// rcgen failed to make a key or certificate.
    Generate(String),
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::Io { path, source } => write!(f, "`{}`: {source}", path.display()),
            CertError::CaExists(p) => write!(
                f,
                "`{}` already holds a CA; refusing to replace it (every node certificate it signed would stop working)",
                p.display()
            ),
            CertError::NoCa(p) => write!(
                f,
                "`{}` holds no CA (`{CA_CERT_FILE}` and `{CA_KEY_FILE}`)",
                p.display()
            ),
            CertError::NodeExists { node, path } => write!(
                f,
                "node `{node}` already has `{}`; remove it first to issue a new one",
                path.display()
            ),
            CertError::BadName { name, reason } => write!(f, "node name `{name}`: {reason}"),
            CertError::ForeignCa(e) => write!(f, "the CA cannot sign node certificates: {e}"),
            CertError::Generate(e) => write!(f, "certificate generation failed: {e}"),
        }
    }
}

impl std::error::Error for CertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CertError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<rcgen::Error> for CertError {
    fn from(e: rcgen::Error) -> Self {
        CertError::Generate(e.to_string())
    }
}

/// A CA and a certificate for each of `nodes`, in memory (for tests and
/// embedding).
pub fn generate_in_memory(nodes: &[&str]) -> Result<ClusterCerts, CertError> {
    let names = check_names(nodes)?;
    let (ca, ca_pem) = Ca::new()?;
    let nodes = names
        .into_iter()
        .map(|n| Ok((n, ca.issue(n)?)))
        .collect::<Result<_, CertError>>()?;
    Ok(ClusterCerts { ca: ca_pem, nodes })
}

/// Writes a new CA and a certificate for each of `nodes` into `dir`
/// (created if missing): `ca.pem`, `ca.key`, `<node>.pem`, `<node>.key`.
///
/// Refuses ([`CertError::CaExists`], [`CertError::NodeExists`]) if any of
/// those files exists, before writing anything; use [`add_node`] to add
/// nodes to an existing CA, or [`generate_overwriting`] to start over.
pub fn generate(dir: &Path, nodes: &[&str]) -> Result<Generated, CertError> {
    write_cluster(dir, nodes, false)
}

/// Like [`generate`], but replaces an existing CA and node files. Every
/// certificate the old CA signed stops being accepted by nodes that get the
/// new `ca.pem`.
pub fn generate_overwriting(dir: &Path, nodes: &[&str]) -> Result<Generated, CertError> {
    write_cluster(dir, nodes, true)
}

/// Signs a certificate for node `name` with the CA in `dir` and writes
/// `<name>.pem` and `<name>.key` there. Refuses if either exists.
pub fn add_node(dir: &Path, name: &str) -> Result<NodeFiles, CertError> {
    let node = check_name(name)?;
    let files = node_files(dir, node);
    for path in [&files.cert, &files.key] {
        if path.exists() {
            return Err(CertError::NodeExists {
                node,
                path: path.clone(),
            });
        }
    }
    let read = |file: &str| {
        let path = dir.join(file);
        fs::read_to_string(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => CertError::NoCa(dir.to_owned()),
            _ => CertError::Io { path, source },
        })
    };
    let ca = Ca::load(&read(CA_CERT_FILE)?, &read(CA_KEY_FILE)?)?;
    let pair = ca.issue(node)?;
    write_pair(&files, &pair, false)?;
    Ok(files)
}

fn write_cluster(dir: &Path, nodes: &[&str], overwrite: bool) -> Result<Generated, CertError> {
    let names = check_names(nodes)?;
    let ca_cert = dir.join(CA_CERT_FILE);
    let ca_key = dir.join(CA_KEY_FILE);
    let files: Vec<NodeFiles> = names.iter().map(|&n| node_files(dir, n)).collect();
    if !overwrite {
        if ca_cert.exists() || ca_key.exists() {
            return Err(CertError::CaExists(dir.to_owned()));
        }
        for f in &files {
            for path in [&f.cert, &f.key] {
                if path.exists() {
                    return Err(CertError::NodeExists {
                        node: f.node,
                        path: path.clone(),
                    });
                }
            }
        }
    }
    fs::create_dir_all(dir).map_err(|source| CertError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let (ca, ca_pem) = Ca::new()?;
    let pairs = names
        .iter()
        .map(|&n| ca.issue(n))
        .collect::<Result<Vec<_>, _>>()?;
    write_file(&ca_key, &ca_pem.key_pem, true, overwrite)?;
    write_file(&ca_cert, &ca_pem.cert_pem, false, overwrite)?;
    for (f, pair) in files.iter().zip(&pairs) {
        write_pair(f, pair, overwrite)?;
    }
    Ok(Generated {
        ca_cert,
        ca_key,
        nodes: files,
    })
}

fn node_files(dir: &Path, node: NodeId) -> NodeFiles {
    NodeFiles {
        node,
        cert: dir.join(format!("{node}.pem")),
        key: dir.join(format!("{node}.key")),
    }
}

fn write_pair(files: &NodeFiles, pair: &CertKey, overwrite: bool) -> Result<(), CertError> {
    let exists = |path: &Path| CertError::NodeExists {
        node: files.node,
        path: path.to_owned(),
    };
    write_file(&files.key, &pair.key_pem, true, overwrite).map_err(|e| match e {
        CertError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists => {
            exists(&files.key)
        }
        e => e,
    })?;
    write_file(&files.cert, &pair.cert_pem, false, overwrite).map_err(|e| match e {
        CertError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists => {
            exists(&files.cert)
        }
        e => e,
    })
}

/// Writes `contents` to `path`: mode 0600 if `secret`, else 0644; a new
/// file unless `overwrite`.
fn write_file(path: &Path, contents: &str, secret: bool, overwrite: bool) -> Result<(), CertError> {
    let io_error = |source| CertError::Io {
        path: path.to_owned(),
        source,
    };
    let mut opts = OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    let mode = if secret { 0o600 } else { 0o644 };
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    let mut file = opts.open(path).map_err(io_error)?;
    // An overwritten file keeps its old mode unless told otherwise.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_error)?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    file.write_all(contents.as_bytes()).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

/// A node name usable in a certificate: a [`NodeId`] that is a DNS name (not
/// an IP address) and does not clash with the CA's files.
fn check_name(name: &str) -> Result<NodeId, CertError> {
    let bad = |reason: String| CertError::BadName {
        name: name.to_owned(),
        reason,
    };
    let node = NodeId::new(name).map_err(|e| bad(e.to_string()))?;
    match ServerName::try_from(name) {
        Ok(ServerName::DnsName(_)) => {}
        Ok(_) => return Err(bad("an IP address cannot be a node name".to_owned())),
        Err(e) => return Err(bad(format!("not a DNS name: {e}"))),
    }
    if name.eq_ignore_ascii_case("ca") {
        return Err(bad("`ca` is the CA's file name".to_owned()));
    }
    Ok(node)
}

fn check_names(nodes: &[&str]) -> Result<Vec<NodeId>, CertError> {
    let mut names: Vec<NodeId> = Vec::with_capacity(nodes.len());
    for name in nodes {
        let node = check_name(name)?;
        if names
            .iter()
            .any(|n| n.as_str().eq_ignore_ascii_case(node.as_str()))
        {
            return Err(CertError::BadName {
                name: (*name).to_owned(),
                reason: "given twice (certificates compare names ignoring case)".to_owned(),
            });
        }
        names.push(node);
    }
    Ok(names)
}

/// A CA that can sign: its parameters (fixed, so they can be rebuilt) and
/// key, and its certificate to check what it signs against.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    cert_pem: String,
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, "GoldFish");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, CA_YEARS);
    params
}

impl Ca {
    /// A new CA; also returns its certificate and key, PEM.
    fn new() -> Result<(Ca, CertKey), CertError> {
        let key = KeyPair::generate()?;
        let params = ca_params();
        let cert_pem = params.self_signed(&key)?.pem();
        let pair = CertKey {
            cert_pem: cert_pem.clone(),
            key_pem: key.serialize_pem(),
        };
        Ok((
            Ca {
                params,
                key,
                cert_pem,
            },
            pair,
        ))
    }

    /// The CA in `cert_pem` / `key_pem`, as made by [`Ca::new`].
    fn load(cert_pem: &str, key_pem: &str) -> Result<Ca, CertError> {
        let key = KeyPair::from_pem(key_pem)
            .map_err(|e| CertError::ForeignCa(format!("cannot read the CA key: {e}")))?;
        pem_certs(cert_pem.as_bytes(), "CA certificate")
            .map_err(|e| CertError::ForeignCa(e.to_string()))?;
        Ok(Ca {
            params: ca_params(),
            key,
            cert_pem: cert_pem.to_owned(),
        })
    }

    /// A certificate for `node`, checked against the CA certificate.
    fn issue(&self, node: NodeId) -> Result<CertKey, CertError> {
        let mut params = CertificateParams::new(vec![node.as_str().to_owned()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, node.as_str());
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, NODE_YEARS);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &Issuer::from_params(&self.params, &self.key))?;
        let roots =
            roots(self.cert_pem.as_bytes()).map_err(|e| CertError::ForeignCa(e.to_string()))?;
        check_node_cert(&roots, std::slice::from_ref(cert.der()), node).map_err(|e| {
            CertError::ForeignCa(format!(
                "a certificate it signs does not verify against `{CA_CERT_FILE}` ({e}); \
                 was the CA made by `goldfish certs`, and is the key the certificate's?"
            ))
        })?;
        Ok(CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Valid from yesterday (clock skew between nodes) for `years` years.
fn set_validity(params: &mut CertificateParams, years: i32) {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    let (y, m, d) = civil_from_days(days as i64 - 1);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    params.not_after = rcgen::date_time_ymd(y + years, m, d.min(28));
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (Howard
/// Hinnant's algorithm): `(year, month, day)`.
pub fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m as u8, d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("edge-1").is_ok());
        assert!(check_name("ca").is_err());
        assert!(check_name("1.2.3.4").is_err());
        assert!(check_name("a..b").is_err());
        assert!(check_name("").is_err());
        assert!(check_names(&["a", "A"]).is_err());
    }

    #[test]
    fn issued_certificates_verify_and_a_foreign_key_is_refused() {
        let one = generate_in_memory(&["a"]).unwrap();
        let extra = one.issue("b").unwrap();
        let roots = roots(one.ca.cert_pem.as_bytes()).unwrap();
        let chain = pem_certs(extra.cert_pem.as_bytes(), "cert").unwrap();
        check_node_cert(&roots, &chain, NodeId::new("b").unwrap()).unwrap();
        assert!(check_node_cert(&roots, &chain, NodeId::new("a").unwrap()).is_err());

        let other = generate_in_memory(&["x"]).unwrap();
        let mixed = ClusterCerts {
            ca: CertKey {
                cert_pem: one.ca.cert_pem.clone(),
                key_pem: other.ca.key_pem.clone(),
            },
            nodes: vec![],
        };
        assert!(matches!(mixed.issue("c"), Err(CertError::ForeignCa(_))));
    }
}
