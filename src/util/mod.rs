//! Small shared pieces that depend on nothing else in the crate: calendar
//! arithmetic ([`calendar`]), number formatting ([`num`]), the one JSON file
//! writer ([`json`]) and the order-free table fingerprint ([`fingerprint`]).
//! Every other module may use them; they use none of ours.

pub mod calendar;
pub mod fingerprint;
pub mod json;
pub mod num;
