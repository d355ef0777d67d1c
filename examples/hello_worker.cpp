// The smallest Tempest worker: answers "Hello world!" to every HTTP request the front queues.
//
//   ./hello_worker --redis redis://127.0.0.1:6379/0 --queue tempest --concurrency 1
//
// Takes the standard worker flags (--help lists them). from_args comes first: it catches SIGTERM
// and SIGINT before anything else, so a stop at any moment is a clean one.
#include <tempest/worker.hpp>

int main(int argc, char** argv) {
  auto options = tempest::worker_options::from_args(argc, argv, "Answers Hello world! to every request");
  tempest::worker worker(options);
  worker.on_request([](const tempest::request&, tempest::response& res) {
    res.set_header("Content-Type", "text/plain");
    res.set_header("X-Worker", "c++");  // which language answered, in a mixed fleet (examples/angel.toml)
    res.body = "Hello world!";
  });
  return worker.run();
}
