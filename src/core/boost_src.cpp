// Compiles Asio and Beast once for the whole project (BOOST_*_SEPARATE_COMPILATION is set by
// CMake), so that the files that use them only parse declarations. Keeps a 2-core build bearable.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
