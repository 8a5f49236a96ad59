//! Prints the README's insert reference: `cargo run -p mam_core --example insert_reference`.

fn main() {
    print!("{}", mam_core::insert::registry::markdown_reference());
}
