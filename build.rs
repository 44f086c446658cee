// Packs and rule-test fixtures are embedded with include_dir; rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=rules");
    println!("cargo:rerun-if-changed=fixtures/evidence");
}
