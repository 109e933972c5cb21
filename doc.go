// Package vigil is the root of the Vigil module. It holds no code, only repository-wide tests
// (package documentation); the product lives in wire/, agent/, updater/, signing/, release/,
// server/ and cmd/.
package vigil
