//! [`SystemTime`] ↔ PostgreSQL `timestamptz`.
//!
//! diesel maps `SystemTime` only to `timestamp` (without time zone). `timestamptz` has the same
//! binary wire format — microseconds since 2000-01-01 00:00 UTC as an `int8` — so [`PgTime`]
//! reuses diesel's `SystemTime` encoding under the `timestamptz` type (as diesel's own chrono
//! and time impls do), with no `chrono`/`time` dependency and no dependence on the session's
//! `TimeZone`.
//!
//! Precision is PostgreSQL's: microseconds. Sub-microsecond parts of a `SystemTime` are
//! truncated when written.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Timestamp, Timestamptz};
use std::time::SystemTime;

/// A `timestamptz` value as a [`SystemTime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Timestamptz)]
pub(crate) struct PgTime(pub(crate) SystemTime);

impl ToSql<Timestamptz, Pg> for PgTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        ToSql::<Timestamp, Pg>::to_sql(&self.0, out)
    }
}

impl FromSql<Timestamptz, Pg> for PgTime {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <SystemTime as FromSql<Timestamp, Pg>>::from_sql(bytes).map(PgTime)
    }
}
