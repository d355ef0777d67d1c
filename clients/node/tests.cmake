# The Node.js client's suite (node's built-in test runner), registered as clients.node. `node` is
# found when the test runs, as for tests/browser: ./run test installs Node.js and runs `npm ci`
# here after configuring, so a configure-time check would drop the suite on a fresh machine.
add_test(NAME clients.node
         COMMAND node --test --test-reporter=spec
         WORKING_DIRECTORY ${CLIENT_DIR})
set_tests_properties(clients.node PROPERTIES
                     ENVIRONMENT "TEMPEST_BUILD_DIR=${PROJECT_BINARY_DIR}"
                     TIMEOUT 300 LABELS clients)
