use std::collections::HashMap;

pub fn port_of(services: &HashMap<String, u16>, name: &str) -> u16 {
    let port = services.get(name).unwrap();
    *port
}
