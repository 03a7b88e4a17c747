// swift-tools-version:6.0
import PackageDescription
let package = Package(name: "tsan-handover", targets: [.executableTarget(name: "tsan-handover")])
