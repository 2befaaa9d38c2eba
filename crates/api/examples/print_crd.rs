fn main() { print!("{}", nodestatus_api::crd_yaml()); }
