from tests.browser import render


def test_render_reports_text_errors_and_blocked_requests(tmp_path):
    page = tmp_path / "p.html"
    page.write_text(
        "<html><body><h1>Weekly &lt;KPI&gt;</h1><img src='https://example.com/x.png'>"
        "<script>document.body.dataset.ok = 'yes'; missingFunction()</script></body></html>"
    )
    shot = tmp_path / "p.png"
    result = render(page, shot, evaluate="document.body.dataset.ok")
    assert "Weekly <KPI>" in result.text
    assert any("missingFunction" in e for e in result.errors)
    assert result.requests == ["https://example.com/x.png"]
    assert result.evaluated == "yes"
    assert shot.read_bytes().startswith(b"\x89PNG")
