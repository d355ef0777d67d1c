# The Ruby client's Minitest suite (clients/ruby/test/): starts its own redis-server and real
# `tempest front` processes from TEMPEST_BUILD_DIR. Included by clients/CMakeLists.txt with
# CLIENT_DIR set to this directory. Needs Debian's ruby, ruby-redis, ruby-rack, ruby-sinatra,
# ruby-minitest.
add_test(NAME clients.ruby
  COMMAND /usr/bin/ruby -Ilib -Itest -e "Dir['test/*_test.rb'].sort.each { |f| require_relative f }"
  WORKING_DIRECTORY ${CLIENT_DIR})
set_tests_properties(clients.ruby PROPERTIES
  ENVIRONMENT "TEMPEST_BUILD_DIR=${PROJECT_BINARY_DIR}"
  TIMEOUT 300
  LABELS clients)
