import TestSupport

/// The shared media fixtures (TestSupport), under the name these tests use.
typealias Fixtures = MediaFixtures
