import Testing
@testable import Sett
