# The Node.js client's suite (clients/node/test/*.test.js, node's built-in test runner): a real
# redis-server and `tempest front` from TEMPEST_BUILD_DIR, workers in-process and as
# subprocesses, a real Express app. Needs `npm ci` in clients/node first (./run test does it
# when package-lock.json exists). Included by clients/CMakeLists.txt with CLIENT_DIR set.
find_program(NODE_EXECUTABLE node)
if(NODE_EXECUTABLE)
  add_test(NAME clients.node
           COMMAND ${NODE_EXECUTABLE} --test --test-reporter=spec
           WORKING_DIRECTORY ${CLIENT_DIR})
  set_tests_properties(clients.node PROPERTIES
                       ENVIRONMENT "TEMPEST_BUILD_DIR=${PROJECT_BINARY_DIR}"
                       TIMEOUT 300 LABELS clients)
else()
  message(STATUS "node not found: the clients.node suite is not registered")
endif()
