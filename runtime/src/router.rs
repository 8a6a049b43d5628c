//! The route table, built from the function registry on matchit.
//!
//! One matchit entry per path template, each with the functions registered for it by method.
//! Building the table reports every conflict by function name, so a bad registry fails at
//! startup (and in a unit test), not on the first request.

use shared::{Function, Method};

pub struct Router {
    paths: matchit::Router<usize>,
    entries: Vec<PathEntry>,
}

struct PathEntry {
    template: &'static str,
    functions: Vec<&'static Function>,
}

pub enum Lookup {
    Found {
        function: &'static Function,
        /// Raw (still percent-encoded) path parameters.
        params: Vec<(String, String)>,
    },
    /// The path exists but not for this method.
    MethodNotAllowed {
        /// The `Allow` header.
        allow: String,
        /// The route template the path matched.
        template: &'static str,
    },
    NotFound,
}

impl Router {
    pub fn new(functions: &'static [Function]) -> Result<Router, String> {
        let mut router = Router {
            paths: matchit::Router::new(),
            entries: Vec::new(),
        };
        let mut problems = Vec::new();
        for f in functions {
            if let Some(i) = router.entries.iter().position(|e| e.template == f.path) {
                let entry = &mut router.entries[i];
                if let Some(other) = entry.functions.iter().find(|o| o.method == f.method) {
                    problems.push(format!(
                        "{} and {} are both registered for {} {}",
                        other.name,
                        f.name,
                        f.method.as_str(),
                        f.path
                    ));
                } else {
                    entry.functions.push(f);
                }
                continue;
            }
            match router.paths.insert(f.path, router.entries.len()) {
                Ok(()) => router.entries.push(PathEntry {
                    template: f.path,
                    functions: vec![f],
                }),
                Err(e) => {
                    let with = match &e {
                        matchit::InsertError::Conflict { with } => router
                            .entries
                            .iter()
                            .find(|entry| entry.template == with)
                            .map(|entry| format!("{} ({with})", entry.functions[0].name))
                            .unwrap_or_else(|| with.clone()),
                        other => other.to_string(),
                    };
                    problems.push(format!("{} ({}) conflicts with {with}", f.name, f.path));
                }
            }
        }
        if problems.is_empty() {
            Ok(router)
        } else {
            Err(format!(
                "the function registry has route conflicts: {}",
                problems.join("; ")
            ))
        }
    }

    /// `method` is the HTTP method as sent; HEAD is looked up as GET.
    pub fn lookup(&self, method: &str, path: &str) -> Lookup {
        let Ok(matched) = self.paths.at(path) else {
            return Lookup::NotFound;
        };
        let entry = &self.entries[*matched.value];
        let wanted = if method == "HEAD" {
            Some(Method::Get)
        } else {
            Method::parse(method)
        };
        match entry.functions.iter().find(|f| Some(f.method) == wanted) {
            Some(function) => Lookup::Found {
                function,
                params: matched
                    .params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            None => Lookup::MethodNotAllowed {
                allow: allow_header(&entry.functions),
                template: entry.template,
            },
        }
    }
}

fn allow_header(functions: &[&'static Function]) -> String {
    let mut methods: Vec<&str> = functions.iter().map(|f| f.method.as_str()).collect();
    if methods.contains(&"GET") {
        methods.push("HEAD");
    }
    methods.push("OPTIONS");
    methods.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{Auth, Response};

    const fn f(name: &'static str, method: Method, path: &'static str) -> Function {
        Function {
            name,
            method,
            path,
            auth: Auth::Public,
            summary: "test",
            query: &[],
            request_body: None,
            success_status: 200,
            response_body: None,
            body: shared::RequestBody::DEFAULT,
            handler: |_, _| Box::pin(async { Ok(Response::empty(204)) }),
        }
    }

    #[test]
    fn the_registry_builds_without_conflicts() {
        let router = Router::new(functions::ALL).expect("registry routes insert cleanly");
        for function in functions::ALL {
            let path = function.path.replace('{', "x").replace('}', "");
            match router.lookup(function.method.as_str(), &path) {
                Lookup::Found {
                    function: found, ..
                } => assert_eq!(found.name, function.name),
                _ => panic!("{} is not reachable at {path}", function.name),
            }
        }
    }

    #[test]
    fn head_is_get_and_wrong_methods_list_allow() {
        static FNS: [Function; 2] = [
            f("a_get", Method::Get, "/api/a/{id}"),
            f("a_delete", Method::Delete, "/api/a/{id}"),
        ];
        let router = Router::new(&FNS).unwrap();
        match router.lookup("HEAD", "/api/a/7") {
            Lookup::Found { function, params } => {
                assert_eq!(function.name, "a_get");
                assert_eq!(params, vec![("id".to_string(), "7".to_string())]);
            }
            _ => panic!("HEAD should find the GET function"),
        }
        match router.lookup("POST", "/api/a/7") {
            Lookup::MethodNotAllowed { allow, .. } => {
                assert_eq!(allow, "GET, DELETE, HEAD, OPTIONS")
            }
            _ => panic!("POST should be 405"),
        }
        assert!(matches!(router.lookup("GET", "/api/b"), Lookup::NotFound));
    }

    #[test]
    fn conflicts_are_reported_by_name() {
        static SAME: [Function; 2] = [f("one", Method::Get, "/x"), f("two", Method::Get, "/x")];
        let e = Router::new(&SAME).err().unwrap();
        assert!(e.contains("one") && e.contains("two"), "{e}");
        static CLASH: [Function; 2] = [
            f("by_id", Method::Get, "/x/{id}"),
            f("by_key", Method::Get, "/x/{key}"),
        ];
        let e = Router::new(&CLASH).err().unwrap();
        assert!(e.contains("by_key") && e.contains("by_id"), "{e}");
    }
}
