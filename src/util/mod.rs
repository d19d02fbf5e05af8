//! Small shared pieces that depend on nothing else in the crate: calendar
//! arithmetic ([`calendar`]), number formatting ([`num`]) and the one JSON file
//! writer ([`json`]). Every other module may use them; they use none of ours.

pub mod calendar;
pub mod json;
pub mod num;
