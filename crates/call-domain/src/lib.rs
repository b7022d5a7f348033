//! call-domain
